"""Request-level plumbing that is not tenant routing itself."""

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse


class HealthCheckMiddleware:
    """Answers /healthz (process alive) and /readyz (database answers) on any host.

    It sits before tenant routing so load balancers can probe without a tenant host name.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return HttpResponse("ok", content_type="text/plain")
        if request.path == "/readyz":
            try:
                connection.set_schema_to_public()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except Exception:  # any database failure means "not ready"
                return HttpResponse("database unavailable", status=503, content_type="text/plain")
            return HttpResponse("ok", content_type="text/plain")
        return self.get_response(request)


class RequestContextMiddleware:
    """Tags error reports with the tenant, so a Sentry event says which association it came from."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            try:
                import sentry_sdk

                sentry_sdk.set_tag("tenant", tenant.schema_name)
            except ImportError:  # sentry-sdk is a dependency; keep the request working regardless
                pass
        return self.get_response(request)

"""tenant_routing: requests/s of a trivial tenant page through the full tenant middleware, against the
same view and middleware stack with the tenant fixed in advance (no host resolution at all).

Requests are WSGI calls in this process (no sockets), so the figure is the framework's cost alone.
Rounds alternate between the two handlers so machine noise hits both alike; the best round counts.
"""

import io
import time

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import override_settings

SLUG = "benchroute"
HOST = f"{SLUG}.localhost"
REQUESTS_PER_ROUND = 1500
ROUNDS = 5


class FixedTenantMiddleware:
    """Baseline: the tenant is chosen once, outside the request; nothing is looked up per request."""

    tenant = None

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = self.tenant
        return self.get_response(request)


def _ensure_tenant():
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
    from tenants.models import Association
    from tenants.services import tenant_onboard

    tenant = Association.objects.filter(slug=SLUG).first()
    if tenant is None:
        data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "sichuan.toml"))
        data["association"]["slug"] = SLUG
        tenant = tenant_onboard(rules=load_rules_data(data, source="bench")).tenant
    return tenant


def _environ() -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/ping",
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "80",
        "HTTP_HOST": HOST,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _round(handler: WSGIHandler) -> float:
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    started = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        body = b"".join(handler(_environ(), start_response))
    elapsed = time.perf_counter() - started
    if statuses[-1] != "200 OK" or SLUG.encode() not in body:
        raise AssertionError(f"unexpected response {statuses[-1]}: {body[:200]!r}")
    return REQUESTS_PER_ROUND / elapsed


def run(report) -> None:
    tenant = _ensure_tenant()
    full = WSGIHandler()
    baseline_middleware = [
        "infra.bench.tenant_routing.FixedTenantMiddleware" if "TenantRoutingMiddleware" in m else m
        for m in settings.MIDDLEWARE
    ]
    FixedTenantMiddleware.tenant = tenant
    with override_settings(MIDDLEWARE=baseline_middleware):
        fixed = WSGIHandler()
    full_rates, fixed_rates = [], []
    for _ in range(ROUNDS):
        full_rates.append(_round(full))
        connection.set_tenant(tenant)
        fixed_rates.append(_round(fixed))
        connection.set_schema_to_public()
    report(
        name="tenant_routing",
        value=max(full_rates),
        unit="requests/s",
        baseline=max(fixed_rates),
        goal=">= 0.75",
        requests=REQUESTS_PER_ROUND * ROUNDS,
        note="in-process WSGI, GET /ping; baseline = same stack with the tenant fixed, no host lookup",
    )

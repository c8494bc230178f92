"""Host -> tenant routing: cached lookup, plain 404 for unknown hosts, 503 for suspended associations."""

import copy

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_tenants.middleware.main import TenantMainMiddleware

from tenants.models import Association, AssociationStatus
from tenants.selectors import tenant_for_hostname


class TenantRoutingMiddleware(TenantMainMiddleware):
    def get_tenant(self, domain_model, hostname: str) -> Association:
        tenant = tenant_for_hostname(hostname)
        if tenant is None:
            raise domain_model.DoesNotExist(hostname)
        # The cached instance is shared by concurrent requests; django-tenants writes domain_url on it.
        return copy.copy(tenant)

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:
        html = render_to_string("tenants/unknown_host.html", {"hostname": hostname})
        return HttpResponse(html, status=404)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        response = super().process_request(request)
        if response is not None:
            return response
        tenant: Association = request.tenant
        if tenant.status == AssociationStatus.SUSPENDED:
            connection.set_schema_to_public()
            html = render_to_string("tenants/suspended.html", {"association": tenant})
            response = HttpResponse(html, status=503)
            response["Retry-After"] = "3600"
            return response
        return None

"""Read-only admin for power users: certificates change only through the services (revoke in the console)."""

from django.contrib import admin

from certificates.models import Certificate, CertificateBatch
from shared.admin_mixins import ReadOnlyAdmin, TenantSchemaOnlyAdmin


@admin.register(Certificate)
class CertificateAdmin(TenantSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["number", "title", "holder", "issued_at", "valid_until", "status"]
    list_filter = ["kind_code", "status"]
    search_fields = ["number"]
    exclude = ["verification_code"]


@admin.register(CertificateBatch)
class CertificateBatchAdmin(TenantSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["title", "program", "status", "done_count", "total", "created_at"]

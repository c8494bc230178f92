from django.contrib import admin
from django_tenants.admin import TenantAdminMixin

from shared.admin_mixins import PublicSchemaOnlyAdmin, ReadOnlyAdmin
from tenants.models import Association, Domain, TenantUsageSnapshot


@admin.register(Association)
class AssociationAdmin(PublicSchemaOnlyAdmin, ReadOnlyAdmin, TenantAdminMixin, admin.ModelAdmin):
    """Read-only: onboarding, suspension and domains go through the operator console's services."""

    list_display = ["name", "slug", "province", "status", "created_at"]
    list_filter = ["status"]


@admin.register(Domain)
class DomainAdmin(PublicSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]


@admin.register(TenantUsageSnapshot)
class TenantUsageSnapshotAdmin(PublicSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["tenant", "collected_at"]

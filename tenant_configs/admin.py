from django.contrib import admin

from shared.admin_mixins import ReadOnlyAdmin, TenantSchemaOnlyAdmin
from tenant_configs.models import RulesVersion


@admin.register(RulesVersion)
class RulesVersionAdmin(TenantSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["number", "published_at", "published_by_label", "comment"]

"""Admin classes that only appear in the schema their table lives in.

The public schema is on every tenant's search_path, so without this a tenant's admin could list
the platform's tenants; and tenant-only tables do not exist in the public schema at all.
"""

from django.db import connection
from django_tenants.utils import get_public_schema_name


def _on_public() -> bool:
    return connection.schema_name == get_public_schema_name()


class PublicSchemaOnlyAdmin:
    def has_module_permission(self, request):
        return _on_public() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _on_public() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _on_public() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _on_public() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _on_public() and super().has_delete_permission(request, obj)


class TenantSchemaOnlyAdmin:
    def has_module_permission(self, request):
        return not _on_public() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not _on_public() and super().has_view_permission(request, obj)


class ReadOnlyAdmin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

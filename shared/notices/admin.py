from django.contrib import admin

from shared.admin_mixins import ReadOnlyAdmin, TenantSchemaOnlyAdmin
from shared.notices.models import Message, Notice


@admin.register(Notice)
class NoticeAdmin(TenantSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    """Read-only: notices change through the console, whose services write the audit entries."""

    list_display = ("title", "audience", "status", "pinned", "published_at")
    list_filter = ("status", "audience")


@admin.register(Message)
class MessageAdmin(TenantSchemaOnlyAdmin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("title", "recipient", "created_at", "read_at")

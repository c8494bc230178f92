from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from shared.accounts.models import Invitation, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "name", "kind", "phone", "is_active", "date_joined"]
    list_filter = ["kind", "is_active"]
    search_fields = ["username", "name", "phone"]
    ordering = ["-date_joined"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("资料", {"fields": ("name", "phone", "email", "kind", "staff_roles")}),
        ("权限", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("时间", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "kind", "password1", "password2")}),
    )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "created_by_label", "created_at", "expires_at", "accepted_at"]
    readonly_fields = ["token_sha256", "accepted_user", "accepted_at"]

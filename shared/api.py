"""API conventions: every error carries a stable machine `code` and a human `message`."""

from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.JSONField(required=False)


def exception_handler(exc, context) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if hasattr(exc, "get_codes"):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    message = (
        detail.get("detail")
        if isinstance(detail, dict) and "detail" in detail
        else str(getattr(exc, "default_detail", ""))
    )
    body = {"code": str(code), "message": str(message)}
    if (isinstance(detail, dict) and "detail" not in detail) or isinstance(detail, list):
        body["detail"] = detail
    response.data = body
    return response


class IsAssociationAdmin(permissions.BasePermission):
    message = "需要协会管理员权限"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_staff_role("admin"))

"""API routes of the identity layer (mini-program and integrators), under /api/v1/."""

from django.urls import path

from shared.accounts import api

urlpatterns = [
    path("auth/token/", api.AuthTokenApi.as_view(), name="api-auth-token"),
    path("auth/wechat/", api.WechatLoginApi.as_view(), name="api-auth-wechat"),
    path("auth/wechat/register/", api.WechatRegisterApi.as_view(), name="api-auth-wechat-register"),
    path("me/profile/", api.MeProfileApi.as_view(), name="api-me-profile"),
    path("me/invoice-titles/", api.InvoiceTitleListApi.as_view(), name="api-me-invoice-titles"),
    path(
        "me/invoice-titles/<int:title_id>/",
        api.InvoiceTitleDetailApi.as_view(),
        name="api-me-invoice-title",
    ),
    path("me/addresses/", api.AddressListApi.as_view(), name="api-me-addresses"),
    path("me/addresses/<int:address_id>/", api.AddressDetailApi.as_view(), name="api-me-address"),
]

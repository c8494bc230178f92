"""API routes of association membership, under /api/v1/."""

from django.urls import path

from membership import api

urlpatterns = [
    path("membership/", api.MyMembershipApi.as_view(), name="api-membership"),
    path("company/memberships/", api.CompanyMembershipListApi.as_view(), name="api-company-memberships"),
    path(
        "company/memberships/recommend/",
        api.CompanyRecommendApi.as_view(),
        name="api-company-memberships-recommend",
    ),
    path(
        "company/memberships/confirm/",
        api.CompanyConfirmApi.as_view(),
        name="api-company-memberships-confirm",
    ),
    path(
        "company/memberships/<int:membership_id>/roll-back/",
        api.CompanyRollBackApi.as_view(),
        name="api-company-membership-roll-back",
    ),
    path("staff/memberships/", api.StaffMembershipListApi.as_view(), name="api-staff-memberships"),
    path("staff/memberships/decide/", api.StaffDecideApi.as_view(), name="api-staff-memberships-decide"),
]

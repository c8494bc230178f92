"""URLs of the platform's own host: the operator console."""

from django.contrib import admin
from django.urls import include, path

from shared import views
from tenants import views as operator_views

operator_patterns = (
    [
        path("", operator_views.dashboard, name="dashboard"),
        path("tenants/new/", operator_views.onboard, name="onboard"),
        path("tenants/<slug:slug>/", operator_views.tenant_detail, name="tenant"),
        path("tenants/<slug:slug>/suspend/", operator_views.tenant_suspend_view, name="tenant-suspend"),
        path("tenants/<slug:slug>/resume/", operator_views.tenant_resume_view, name="tenant-resume"),
        path("tenants/<slug:slug>/domains/", operator_views.tenant_domain_add_view, name="tenant-domain-add"),
        path("tenants/<slug:slug>/invite/", operator_views.tenant_invite_view, name="tenant-invite"),
    ],
    "operator",
)

urlpatterns = [
    path("", operator_views.dashboard, name="home"),
    path("", include(operator_patterns)),
    path("login/", views.SiteLoginView.as_view(), name="login"),
    path("logout/", views.SiteLogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]

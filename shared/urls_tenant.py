"""URLs of an association's site (any tenant host)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shared import views
from tenant_configs import api as rules_api
from tenant_configs import views as rules_views

console_patterns = (
    [
        path("", views.console_home, name="home"),
        path("audit/", views.console_audit, name="audit"),
        path("rules/", rules_views.rules_overview, name="rules"),
        path("rules/versions/<int:number>/", rules_views.rules_version_detail, name="rules-version"),
        path("rules/<slug:section>/", rules_views.rules_section_edit, name="rules-section"),
    ],
    "console",
)

api_patterns = [
    path("association/", rules_api.AssociationInfoApi.as_view(), name="api-association"),
    path("rules/current/", rules_api.RulesCurrentApi.as_view(), name="api-rules-current"),
    path("rules/versions/", rules_api.RulesVersionListApi.as_view(), name="api-rules-versions"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("ping", views.ping, name="ping"),
    path("login/", views.SiteLoginView.as_view(), name="login"),
    path("logout/", views.SiteLogoutView.as_view(), name="logout"),
    path("invite/<str:token>/", views.invitation_accept_view, name="invitation-accept"),
    path("console/", include(console_patterns)),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

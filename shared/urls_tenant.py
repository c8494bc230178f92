"""URLs of an association's site (any tenant host)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from membership import views as membership_views
from membership import views_membership
from registration import views as registration_views
from shared import views
from shared.accounts import views as account_views
from tenant_configs import api as rules_api
from tenant_configs import views as rules_views

console_patterns = (
    [
        path("", views.console_home, name="home"),
        path("audit/", views.console_audit, name="audit"),
        path("people/", views.console_people, name="people"),
        path("persons/", views.console_persons, name="persons"),
        path("programs/", registration_views.programs, name="programs"),
        path("programs/<int:program_id>/", registration_views.program_detail, name="program"),
        path(
            "programs/<int:program_id>/sessions/<int:session_id>/",
            registration_views.session_edit,
            name="session",
        ),
        path("persons/<int:profile_id>/", views.console_person_detail, name="person"),
        path("membership/", views_membership.console_memberships, name="memberships"),
        path("membership/decide/", views_membership.console_decide, name="membership-decide"),
        path("membership/export.xlsx", views_membership.console_export, name="membership-export"),
        path(
            "membership/<int:membership_id>/", views_membership.console_membership_detail, name="membership"
        ),
        path(
            "membership/batches/<int:batch_id>.pdf",
            views_membership.console_batch_pdf,
            name="membership-batch-pdf",
        ),
        path("rules/", rules_views.rules_overview, name="rules"),
        path("rules/versions/<int:number>/", rules_views.rules_version_detail, name="rules-version"),
        path("rules/<slug:section>/", rules_views.rules_section_edit, name="rules-section"),
    ],
    "console",
)

company_patterns = (
    [
        path("members/", membership_views.members, name="members"),
        path("members/requests/<int:request_id>/", membership_views.decide_join, name="decide-join"),
        path("roster/", membership_views.roster, name="roster"),
        path("operators/", membership_views.invite_operator, name="invite-operator"),
        path("roster/template.xlsx", membership_views.roster_template, name="roster-template"),
        path("membership/", views_membership.company_memberships, name="memberships"),
        path("membership/recommend/", views_membership.company_recommend, name="membership-recommend"),
        path("membership/confirm/", views_membership.company_confirm, name="membership-confirm"),
        path("membership/export.xlsx", views_membership.company_export, name="membership-export"),
        path(
            "membership/<int:membership_id>/roll-back/",
            views_membership.company_roll_back,
            name="membership-roll-back",
        ),
        path("membership/batches/", views_membership.company_batches, name="membership-batches"),
        path(
            "membership/batches/<int:batch_id>.pdf",
            views_membership.company_batch_pdf,
            name="membership-batch-pdf",
        ),
        path(
            "membership/batches/<int:batch_id>.xlsx",
            views_membership.company_batch_xlsx,
            name="membership-batch-xlsx",
        ),
    ],
    "company",
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
    path("login/sms/", account_views.login_sms, name="login-sms"),
    path("register/", account_views.register_person, name="register"),
    path("register/company/", account_views.register_company, name="register-company"),
    path("sms/send/", account_views.sms_send, name="sms-send"),
    path("me/", account_views.me, name="me"),
    path("me/real-name/", account_views.real_name, name="real-name"),
    path("password/reset/", account_views.password_reset, name="password-reset"),
    path("me/company/", membership_views.my_company, name="my-company"),
    path("membership/", views_membership.membership_home, name="membership-home"),
    path("me/company/join/", membership_views.join_company, name="join-company"),
    path(
        "me/company/requests/<int:request_id>/withdraw/", membership_views.withdraw_join, name="withdraw-join"
    ),
    path("company/", include(company_patterns)),
    path("console/", include(console_patterns)),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_patterns)),
    path("api/v1/", include("shared.accounts.api_urls")),
    path("api/v1/", include("registration.api_urls")),
    path("api/v1/", include("billing.api_urls")),
    path("api/v1/", include("membership.api_urls")),
    path("training/", include("registration.urls")),
    path("review/", include("registration.urls_review")),
    path("billing/", include("billing.urls")),
    path("documents/", include("shared.documents.urls")),
    path("pay/", include("billing.urls_pay")),
    path("", include("certificates.urls")),  # /verify/<code>/, /certificates/…, /api/v1/certificates/…
    path("", include("learning.urls")),  # /learning/…, /api/v1/learning/…
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("shared.accounts.urls_profile")),
    path("", include("shared.accounts.urls_history")),
    path("", include("shared.notices.urls")),
    path("api/v1/", include("shared.notices.api_urls")),
]

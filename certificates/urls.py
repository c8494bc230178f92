"""Certificate routes, all from one include at the site root (shared/urls_tenant.py): the public
verification page, the holder's and company's certificates, the staff console and the API."""

from django.urls import include, path

from certificates import views, views_ce

app_name = "certificates"

urlpatterns = [
    path("verify/", views.verify_lookup, name="verify-lookup"),
    path("verify/<str:code>/", views.verify, name="verify"),
    path("certificates/", views.my_certificates, name="mine"),
    path("certificates/<int:certificate_id>/pdf", views.certificate_download, name="pdf"),
    path("certificates/console/", views.console_list, name="console"),
    path("certificates/console/<int:certificate_id>/revoke/", views.console_revoke, name="revoke"),
    path("certificates/console/batches/", views.console_batch_start, name="batch-start"),
    path("certificates/console/batches/<int:batch_id>/", views.console_batch, name="batch"),
    path("certificates/console/ce-hours/", views_ce.console_ce_hours, name="ce-hours"),
    path("api/v1/", include("certificates.api_urls")),
    path("", include("certificates.urls_exams")),
]

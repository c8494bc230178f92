"""API routes of certificates, under /api/v1/ (included by certificates/urls.py)."""

from django.urls import include, path

from certificates import api

urlpatterns = [
    path("certificates/", api.CertificateListApi.as_view(), name="api-certificates"),
    path(
        "certificates/<int:certificate_id>/pdf/", api.CertificatePdfApi.as_view(), name="api-certificate-pdf"
    ),
    path("verify/<str:code>/", api.CertificateVerifyApi.as_view(), name="api-verify"),
    path("", include("certificates.api_exams")),
]

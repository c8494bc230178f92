"""API routes of registration (mini-program and integrators), under /api/v1/."""

from django.urls import path

from registration import api

urlpatterns = [
    path("sessions/", api.SessionListApi.as_view(), name="api-sessions"),
    path("sessions/<int:session_id>/apply/", api.SessionApplyApi.as_view(), name="api-session-apply"),
    path("programs/<str:program_code>/form/", api.ProgramFormApi.as_view(), name="api-program-form"),
    path(
        "programs/<str:program_code>/documents/<slug:document_key>/",
        api.ProgramDocumentUploadApi.as_view(),
        name="api-program-document",
    ),
    path("applications/", api.ApplicationListApi.as_view(), name="api-applications"),
    path("applications/<int:application_id>/", api.ApplicationDetailApi.as_view(), name="api-application"),
    path(
        "applications/<int:application_id>/resubmit/",
        api.ApplicationResubmitApi.as_view(),
        name="api-application-resubmit",
    ),
    path(
        "applications/<int:application_id>/withdraw/",
        api.ApplicationWithdrawApi.as_view(),
        name="api-application-withdraw",
    ),
]

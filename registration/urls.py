"""The applicant's and the enrolling company's pages (报名)."""

from django.urls import path

from registration import views_apply

app_name = "training"

urlpatterns = [
    path("", views_apply.training, name="list"),
    path("sessions/<int:session_id>/apply/", views_apply.apply, name="apply"),
    path("sessions/<int:session_id>/enrol/", views_apply.company_enrol, name="company-enrol"),
    path("programs/<int:program_id>/wizard/", views_apply.wizard, name="wizard"),
    path("programs/<int:program_id>/wizard/<slug:step_key>/", views_apply.wizard_step, name="wizard-step"),
    path("applications/", views_apply.my_applications, name="mine"),
    path("applications/<int:application_id>/", views_apply.application_detail, name="application"),
    path("applications/<int:application_id>/resubmit/", views_apply.resubmit, name="resubmit"),
    path("applications/<int:application_id>/withdraw/", views_apply.withdraw, name="withdraw"),
    path("applications/<int:application_id>/form.pdf", views_apply.print_form, name="print-form"),
    path("applications/<int:application_id>/pledge.pdf", views_apply.print_pledge, name="print-pledge"),
]

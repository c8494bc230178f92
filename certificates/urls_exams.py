"""Exam routes (included by certificates/urls.py, in its `certificates` namespace)."""

from django.urls import path

from certificates import views_exams

urlpatterns = [
    path("exams/", views_exams.my_exams, name="exams-mine"),
    path("exams/<int:entry_id>/ticket.pdf", views_exams.ticket_pdf, name="exam-ticket"),
    path("exams/console/", views_exams.console_sessions, name="exam-console"),
    path("exams/console/<int:session_id>/", views_exams.console_session, name="exam-session"),
    path("exams/console/<int:session_id>/assign/", views_exams.console_assign, name="exam-assign"),
    path("exams/console/<int:session_id>/score/", views_exams.console_score, name="exam-score"),
    path("exams/console/<int:session_id>/import/", views_exams.console_import, name="exam-import"),
    path("exams/console/<int:session_id>/review/", views_exams.console_review, name="exam-review"),
]

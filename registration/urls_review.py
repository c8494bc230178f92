"""报名审核: the review chain's pages, for company operators, training institutions and association staff."""

from django.urls import path

from registration import views_review

app_name = "review"
urlpatterns = [
    path("", views_review.queue, name="queue"),
    path("bulk/", views_review.bulk, name="bulk"),
    path("<int:application_id>/", views_review.detail, name="detail"),
    path("<int:application_id>/approve/", views_review.approve, name="approve"),
    path("<int:application_id>/reject/", views_review.reject, name="reject"),
    path("<int:application_id>/correct/", views_review.correct, name="correct"),
]

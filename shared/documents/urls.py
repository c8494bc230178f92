"""Routes for private documents (upload, download with access checks, staff review)."""

from django.urls import path

from shared.documents import views

app_name = "documents"
urlpatterns = [
    path("<int:document_id>/file", views.document_file, name="file"),
    path("photo/", views.photo, name="photo"),
    path("review/", views.review, name="review"),
    path("<int:document_id>/accept/", views.accept, name="accept"),
    path("<int:document_id>/return/", views.return_, name="return"),
]

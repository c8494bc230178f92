"""Routes for private documents (upload, download with access checks, staff review)."""

app_name = "documents"
urlpatterns: list = []

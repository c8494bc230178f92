"""URLs of registration (filled in by its views)."""

urlpatterns: list = []

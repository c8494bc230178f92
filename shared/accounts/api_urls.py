"""API routes of the identity layer (mini-program and integrators)."""

urlpatterns: list = []

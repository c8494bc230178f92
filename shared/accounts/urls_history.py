"""历史动态 and 修改密码, at the root of an association's site (shared/urls_tenant.py)."""

from django.urls import path

from shared.accounts import views_history

urlpatterns = [
    path("me/history/", views_history.history, name="me-history"),
    path("me/password/", views_history.PasswordChangeView.as_view(), name="password-change"),
]

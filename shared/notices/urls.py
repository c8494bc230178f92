"""Notices and the inbox, on an association's site (included at the root by shared/urls_tenant.py)."""

from django.urls import path

from shared.notices import views

app_name = "notices"
urlpatterns = [
    path("notices/", views.notice_list, name="list"),
    path("notices/<int:notice_id>/", views.notice_detail, name="detail"),
    path("me/messages/", views.message_inbox, name="inbox"),
    path("me/messages/<int:message_id>/", views.message_detail, name="message"),
    path("console/notices/", views.console_notices, name="console-list"),
    path("console/notices/new/", views.console_notice_create, name="console-create"),
    path("console/notices/<int:notice_id>/edit/", views.console_notice_edit, name="console-edit"),
    path("console/notices/<int:notice_id>/publish/", views.console_notice_publish, name="console-publish"),
    path("console/notices/<int:notice_id>/withdraw/", views.console_notice_withdraw, name="console-withdraw"),
]

"""API routes of notices and messages, under /api/v1/."""

from django.urls import path

from shared.notices import api

urlpatterns = [
    path("notices/", api.NoticeListApi.as_view(), name="api-notices"),
    path("notices/<int:notice_id>/read/", api.NoticeReadApi.as_view(), name="api-notice-read"),
    path("messages/", api.MessageListApi.as_view(), name="api-messages"),
    path("messages/<int:message_id>/read/", api.MessageReadApi.as_view(), name="api-message-read"),
]

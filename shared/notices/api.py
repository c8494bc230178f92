"""Notices and personal messages over the API (mini-program and integrators), on the association's own
host. A notice outside the caller's audience and someone else's message are answered exactly like an id
that does not exist (`not_found`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from shared.accounts.api import API_AUTHENTICATION
from shared.api import ErrorSerializer
from shared.notices import selectors, services
from shared.notices.models import Message, Notice, NoticeAudience

UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="未登录或令牌无效（令牌只在签发它的协会有效）")
NOTICE_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`：不存在、未发布或不在发布范围内")
MESSAGE_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`：不存在，或不是本人的消息")


class NoticeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField(help_text="纯文本，空行分段")
    audience = serializers.ChoiceField(choices=NoticeAudience.choices, help_text="all / companies / members")
    pinned = serializers.BooleanField()
    published_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    read = serializers.BooleanField(help_text="本人是否已读")


def _notice_data(notice: Notice, *, read: bool) -> dict:
    return {
        "id": notice.pk,
        "title": notice.title,
        "body": notice.body,
        "audience": notice.audience,
        "pinned": notice.pinned,
        "published_at": notice.published_at,
        "updated_at": notice.updated_at,
        "read": read,
    }


class ReadOutput(serializers.Serializer):
    id = serializers.IntegerField()
    read_at = serializers.DateTimeField()


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField(help_text="本站路径或 http(s) 地址；可为空")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True, help_text="null 为未读")


def _message_data(message: Message) -> dict:
    return {
        "id": message.pk,
        "title": message.title,
        "body": message.body,
        "link": message.link,
        "created_at": message.created_at,
        "read_at": message.read_at,
    }


class NoticeListApi(APIView):
    """Published notices for the caller's audience, pinned first, newest first."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="notice_list", responses={200: NoticeOutput(many=True), 401: UNAUTHENTICATED})
    def get(self, request):
        notices = selectors.notices_for_user(request.user)[:200]
        return Response(
            NoticeOutput([_notice_data(notice, read=notice.is_read) for notice in notices], many=True).data
        )


class NoticeReadApi(APIView):
    """Record that the caller read a notice (idempotent: the first reading's time is kept)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="notice_read",
        request=None,
        responses={200: ReadOutput, 401: UNAUTHENTICATED, 404: NOTICE_NOT_FOUND},
    )
    def post(self, request, notice_id: int):
        try:
            notice = selectors.notice_get_for_user(notice_id=notice_id, user=request.user)
        except Notice.DoesNotExist as error:
            raise NotFound("通知不存在", code="not_found") from error
        receipt = services.notice_mark_read(notice=notice, user=request.user)
        return Response(ReadOutput({"id": notice.pk, "read_at": receipt.read_at}).data)


class MessageListApi(APIView):
    """The caller's own messages (站内信), newest first."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="message_list", responses={200: MessageOutput(many=True), 401: UNAUTHENTICATED}
    )
    def get(self, request):
        inbox = selectors.messages_for_recipient(recipient=request.user)[:200]
        return Response(MessageOutput([_message_data(message) for message in inbox], many=True).data)


class MessageReadApi(APIView):
    """Mark one of the caller's messages read (idempotent)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="message_read",
        request=None,
        responses={200: MessageOutput, 401: UNAUTHENTICATED, 404: MESSAGE_NOT_FOUND},
    )
    def post(self, request, message_id: int):
        try:
            message = selectors.message_get_for_recipient(message_id=message_id, recipient=request.user)
        except Message.DoesNotExist as error:
            raise NotFound("消息不存在", code="not_found") from error
        message = services.message_mark_read(message=message)
        return Response(MessageOutput(_message_data(message)).data)

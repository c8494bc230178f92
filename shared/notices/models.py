"""Notices (通知公告) the association posts to an audience, their read receipts, and personal messages
(站内信) that services send to one account (DESIGN §4 gansu: "association posts notices to companies and
members")."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class NoticeAudience(models.TextChoices):
    ALL = "all", "全部"
    COMPANIES = "companies", "企业"
    MEMBERS = "members", "会员"


class NoticeStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    PUBLISHED = "published", "已发布"
    WITHDRAWN = "withdrawn", "已撤回"


# The one transition table of a notice: from -> allowed next states. A withdrawn notice may be published
# again (after a correction); a draft is never "withdrawn", it simply stays unpublished.
NOTICE_TRANSITIONS: dict[str, frozenset[str]] = {
    NoticeStatus.DRAFT: frozenset({NoticeStatus.PUBLISHED}),
    NoticeStatus.PUBLISHED: frozenset({NoticeStatus.WITHDRAWN}),
    NoticeStatus.WITHDRAWN: frozenset({NoticeStatus.PUBLISHED}),
}

TITLE_MAX_LENGTH = 200


class Notice(models.Model):
    title = models.CharField("标题", max_length=TITLE_MAX_LENGTH)
    # Plain text; blank lines separate paragraphs. Rendered escaped (`linebreaks`), never as HTML.
    body = models.TextField("正文")
    audience = models.CharField(
        "发布范围", max_length=20, choices=NoticeAudience.choices, default=NoticeAudience.ALL
    )
    pinned = models.BooleanField("置顶", default=False)
    status = models.CharField("状态", max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.DRAFT)
    published_at = models.DateTimeField("发布时间", null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    class Meta:
        verbose_name = "通知公告"
        verbose_name_plural = "通知公告"
        ordering = ["-pinned", "-published_at", "-id"]
        indexes = [models.Index(fields=["status", "audience"], name="notices_status_audience")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="published") | models.Q(published_at__isnull=False),
                name="notices_published_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.title


class NoticeRead(models.Model):
    """A read receipt: `user` opened `notice` (first time only)."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField("阅读时间", default=timezone.now)

    class Meta:
        verbose_name = "阅读记录"
        verbose_name_plural = "阅读记录"
        constraints = [models.UniqueConstraint(fields=["notice", "user"], name="notices_read_once")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.notice_id}"


class Message(models.Model):
    """A personal message (站内信) to one account, sent by a service (reminders, decisions)."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    title = models.CharField("标题", max_length=TITLE_MAX_LENGTH)
    body = models.TextField("内容", blank=True)
    # A path on the association's own site ("/me/membership/"), or empty.
    link = models.CharField("链接", max_length=500, blank=True)
    created_at = models.DateTimeField("发送时间", default=timezone.now)
    read_at = models.DateTimeField("阅读时间", null=True, blank=True)

    class Meta:
        verbose_name = "站内信"
        verbose_name_plural = "站内信"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notices_message_inbox")]

    def __str__(self) -> str:
        return self.title

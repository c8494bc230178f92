"""Notices and messages: writing them. Transitions follow `NOTICE_TRANSITIONS`; each locks the row,
re-checks the state, saves the changed fields, writes an audit entry and is a no-op when already applied.

`message_send` is what other apps call to tell one account something (站内信); the e-mail copy leaves
after the transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from shared.accounts.models import User
from shared.errors import CodedError
from shared.notices.models import (
    NOTICE_TRANSITIONS,
    TITLE_MAX_LENGTH,
    Message,
    Notice,
    NoticeAudience,
    NoticeRead,
    NoticeStatus,
)
from shared.services import audit_record

logger = logging.getLogger(__name__)

LINK_MAX_LENGTH = 500


class NoticeError(CodedError):
    """A refused notice action: `code` is stable English (`forbidden`, `title_required`, `body_required`,
    `title_too_long`, `invalid_audience`, `invalid_state`), `message` is shown to the user."""


def can_manage_notices(user: User) -> bool:
    """Who writes notices: any association staff account (the secretariat, whatever its role)."""
    return bool(getattr(user, "is_authenticated", False) and user.is_association_staff)


def _require_manager(actor: User) -> None:
    if not can_manage_notices(actor):
        raise NoticeError("forbidden", "只有协会工作人员可以发布通知公告")


@dataclass(frozen=True)
class NoticeInput:
    title: str
    body: str
    audience: str = NoticeAudience.ALL
    pinned: bool = False

    def cleaned(self) -> NoticeInput:
        title = self.title.strip()
        body = self.body.strip().replace("\r\n", "\n")
        if not title:
            raise NoticeError("title_required", "请填写标题")
        if len(title) > TITLE_MAX_LENGTH:
            raise NoticeError("title_too_long", f"标题不能超过 {TITLE_MAX_LENGTH} 个字")
        if not body:
            raise NoticeError("body_required", "请填写正文")
        if self.audience not in NoticeAudience.values:
            raise NoticeError("invalid_audience", "请选择发布范围")
        return NoticeInput(title=title, body=body, audience=self.audience, pinned=bool(self.pinned))


def notice_create(*, actor: User, data: NoticeInput) -> Notice:
    """A new draft by association staff. Raises NoticeError (forbidden or invalid input); writes nothing
    then."""
    _require_manager(actor)
    data = data.cleaned()
    with transaction.atomic():
        now = timezone.now()
        notice = Notice.objects.create(
            title=data.title,
            body=data.body,
            audience=data.audience,
            pinned=data.pinned,
            status=NoticeStatus.DRAFT,
            author=actor,
            created_at=now,
            updated_at=now,
        )
        audit_record(actor=actor, action="notice.create", target=notice, data={"audience": data.audience})
    return notice


def notice_update(*, actor: User, notice: Notice, data: NoticeInput) -> Notice:
    """Change the text, audience or pinning of a notice in any state (a published notice changes in
    place; its read receipts stay). Raises NoticeError."""
    _require_manager(actor)
    data = data.cleaned()
    with transaction.atomic():
        locked = Notice.objects.select_for_update().get(pk=notice.pk)
        changed = [
            field
            for field in ("title", "body", "audience", "pinned")
            if getattr(locked, field) != getattr(data, field)
        ]
        if not changed:
            return locked
        for field in changed:
            setattr(locked, field, getattr(data, field))
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(actor=actor, action="notice.update", target=locked, data={"fields": changed})
    return locked


def _transition(*, actor: User, notice: Notice, to: str, action: str) -> Notice:
    _require_manager(actor)
    with transaction.atomic():
        locked = Notice.objects.select_for_update().get(pk=notice.pk)
        if locked.status == to:
            return locked
        if to not in NOTICE_TRANSITIONS[locked.status]:
            raise NoticeError("invalid_state", f"{locked.get_status_display()}的通知不能进行此操作")
        fields = ["status", "updated_at"]
        now = timezone.now()
        locked.status = to
        locked.updated_at = now
        if to == NoticeStatus.PUBLISHED:
            locked.published_at = now
            fields.append("published_at")
        locked.save(update_fields=fields)
        audit_record(actor=actor, action=action, target=locked)
    return locked


def notice_publish(*, actor: User, notice: Notice) -> Notice:
    """Draft or withdrawn → published (published_at is now). Idempotent. Raises NoticeError."""
    return _transition(actor=actor, notice=notice, to=NoticeStatus.PUBLISHED, action="notice.publish")


def notice_withdraw(*, actor: User, notice: Notice) -> Notice:
    """Published → withdrawn: readers no longer see it. Idempotent. Raises NoticeError (a draft)."""
    return _transition(actor=actor, notice=notice, to=NoticeStatus.WITHDRAWN, action="notice.withdraw")


def notice_mark_read(*, notice: Notice, user: User) -> NoticeRead:
    """Record that `user` read `notice`; the first reading counts, later ones change nothing.

    The caller fetched `notice` through `notice_get_for_user`, so the user may read it."""
    receipt, _created = NoticeRead.objects.get_or_create(notice=notice, user=user)
    return receipt


# --- messages --------------------------------------------------------------------------------------------


class MessageError(CodedError):
    """A message that cannot be sent: `invalid_link`, `title_required`."""


def _link_is_safe(link: str) -> bool:
    # A path on the association's own site, or an absolute http(s) address; never "//host" nor "javascript:".
    if link.startswith("/"):
        return not link.startswith("//") and "\\" not in link
    return link.startswith(("https://", "http://"))


def _recipient_email(recipient: User) -> str:
    profile = getattr(recipient, "profile", None) if recipient.kind == "person" else None
    return (getattr(profile, "email", "") or recipient.email or "").strip()


def _absolute(link: str) -> str:
    if not link.startswith("/"):
        return link
    from tenants.models import Domain

    # The association's own host (Domain rows live in the public schema, visible from a tenant's path).
    domain = Domain.objects.filter(tenant__schema_name=connection.schema_name, is_primary=True).first()
    return f"https://{domain.domain}{link}" if domain is not None else link


def _email_message(*, schema: str, message_id: int, address: str) -> None:
    # on_commit callbacks may run after the connection moved on to another schema.
    with schema_context(schema):
        message = Message.objects.filter(pk=message_id).first()
        if message is None:
            return
        link = _absolute(message.link) if message.link else ""
    text = f"{message.body}\n\n{link}".strip()
    try:
        send_mail(subject=message.title, message=text, from_email=None, recipient_list=[address])
    except Exception:
        # The message itself is in the inbox already; a mail server outage must not fail the request.
        logger.exception("message e-mail failed", extra={"message_id": message_id})


def message_send(*, recipient: User, title: str, body: str, link: str = "") -> Message:
    """Put a message in `recipient`'s inbox (站内信) and, after commit, e-mail it to them when they have
    an address (PersonProfile.email, else User.email).

    `link` is a path on the association's site ("/me/membership/") or an http(s) address. Raises
    MessageError (empty title, unsafe link) and writes nothing then. Call it inside the transaction of
    the change it reports: if that rolls back, neither the message nor the e-mail happens."""
    title = title.strip()
    link = link.strip()
    if not title:
        raise MessageError("title_required", "消息标题不能为空")
    if link and (len(link) > LINK_MAX_LENGTH or not _link_is_safe(link)):
        raise MessageError("invalid_link", "消息链接无效")
    message = Message.objects.create(
        recipient=recipient, title=title[:TITLE_MAX_LENGTH], body=body.strip(), link=link
    )
    address = _recipient_email(recipient)
    if address:
        schema = connection.schema_name
        transaction.on_commit(lambda: _email_message(schema=schema, message_id=message.pk, address=address))
    return message


def message_mark_read(*, message: Message) -> Message:
    """Mark a message read (first opening only). The caller fetched it through
    `message_get_for_recipient`."""
    if message.read_at is None:
        now = timezone.now()
        updated = Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now)
        if updated:
            message.read_at = now
        else:
            message.refresh_from_db(fields=["read_at"])
    return message

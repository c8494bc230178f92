"""Reading notices and messages. Who sees a notice is decided here, once: `_audiences_for`.

- audience "all": everyone logged in; anonymous visitors too, but only on the home page and list;
- "companies": company operators (`user.kind == "company"`);
- "members": people counted as association members (`membership.selectors.member_user_ids`);
- association staff see every published notice (and every notice in the console).

A notice fetched by id for a reader is answered like a missing one when it is outside their audience.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Count, Exists, OuterRef, QuerySet, Value

from shared.accounts.models import User, UserKind
from shared.notices.models import Message, Notice, NoticeAudience, NoticeRead, NoticeStatus


def _is_member(user: User) -> bool:
    from membership.selectors import member_user_ids

    return member_user_ids().filter(person_id=user.pk).exists()


def _audiences_for(user) -> list[str] | None:
    """The audiences whose notices `user` may read; None for all of them (staff)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return [NoticeAudience.ALL]
    if user.is_association_staff:
        return None
    audiences = [NoticeAudience.ALL]
    if user.kind == UserKind.COMPANY:
        audiences.append(NoticeAudience.COMPANIES)
    if _is_member(user):
        audiences.append(NoticeAudience.MEMBERS)
    return audiences


def notices_for_user(user) -> QuerySet[Notice]:
    """Published notices `user` (possibly anonymous) may read, pinned first, newest first, each annotated
    `is_read` (always False for an anonymous visitor)."""
    notices = Notice.objects.filter(status=NoticeStatus.PUBLISHED)
    audiences = _audiences_for(user)
    if audiences is not None:
        notices = notices.filter(audience__in=audiences)
    if getattr(user, "is_authenticated", False):
        notices = notices.annotate(
            is_read=Exists(NoticeRead.objects.filter(notice=OuterRef("pk"), user_id=user.pk))
        )
    else:
        notices = notices.annotate(is_read=Value(False, output_field=BooleanField()))
    return notices.order_by("-pinned", "-published_at", "-id")


def latest_notices_for_user(user, limit: int = 5) -> list[Notice]:
    return list(notices_for_user(user)[:limit])


def notice_get_for_user(*, notice_id: int, user) -> Notice:
    """A published notice `user` may read. Raises Notice.DoesNotExist otherwise (missing, draft,
    withdrawn or outside the user's audience: all answered alike)."""
    return notices_for_user(user).get(pk=notice_id)


def notices_for_console() -> QuerySet[Notice]:
    """Every notice of the association, for staff (the console view checks the role)."""
    return Notice.objects.select_related("author").order_by("-pinned", "-updated_at", "-id")


def notice_get_for_console(*, notice_id: int) -> Notice:
    return Notice.objects.get(pk=notice_id)


def audience_users(audience: str) -> QuerySet[User]:
    """The active accounts a notice for `audience` is meant for (staff are readers, not audience)."""
    users = User.objects.filter(is_active=True)
    if audience == NoticeAudience.COMPANIES:
        return users.filter(kind=UserKind.COMPANY)
    if audience == NoticeAudience.MEMBERS:
        from membership.selectors import member_user_ids

        return users.filter(pk__in=member_user_ids())
    return users.filter(kind__in=[UserKind.PERSON, UserKind.COMPANY, UserKind.INSTITUTION])


@dataclass(frozen=True)
class ReadCount:
    read: int
    audience: int


def notice_read_counts(notices: list[Notice]) -> dict[int, ReadCount]:
    """For each notice: how many of its audience have read it, and how big that audience is now.

    One query per audience present for the reads, and one per audience for its size."""
    counts: dict[int, ReadCount] = {}
    by_audience: dict[str, list[int]] = {}
    for notice in notices:
        by_audience.setdefault(notice.audience, []).append(notice.pk)
    for audience, notice_ids in by_audience.items():
        users = audience_users(audience)
        size = users.count()
        reads = dict(
            NoticeRead.objects.filter(notice_id__in=notice_ids, user_id__in=users.values("pk"))
            .values("notice_id")
            .annotate(total=Count("id"))
            .values_list("notice_id", "total")
        )
        for notice_id in notice_ids:
            counts[notice_id] = ReadCount(read=reads.get(notice_id, 0), audience=size)
    return counts


# --- messages --------------------------------------------------------------------------------------------


def messages_for_recipient(*, recipient: User) -> QuerySet[Message]:
    return Message.objects.filter(recipient=recipient).order_by("-created_at", "-id")


def message_get_for_recipient(*, message_id: int, recipient: User) -> Message:
    """Raises Message.DoesNotExist for a missing id and for someone else's message alike."""
    return Message.objects.get(pk=message_id, recipient=recipient)


def messages_unread_count(*, recipient) -> int:
    if not getattr(recipient, "is_authenticated", False):
        return 0
    return Message.objects.filter(recipient=recipient, read_at__isnull=True).count()


@dataclass(frozen=True)
class HomeBoard:
    """What the home page shows of notices and messages."""

    notices: list[Notice]
    unread_messages: int


def home_board(*, user, limit: int = 5) -> HomeBoard:
    return HomeBoard(
        notices=latest_notices_for_user(user, limit=limit),
        unread_messages=messages_unread_count(recipient=user),
    )

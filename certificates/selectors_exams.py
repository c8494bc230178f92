"""Reading exam entries across an ownership boundary: a person sees their own seats and scores, a company
operator its people's, staff every one of the tenant. Not-yours and does-not-exist look the same
(`ExamEntry.DoesNotExist`)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from certificates.models import ExamEntry, ExamSession
from shared.accounts.models import User, UserKind

_RELATED = ("session", "session__program", "application", "application__person", "score")


def _visible_to(viewer: User) -> Q | None:
    if not getattr(viewer, "is_authenticated", False) or not viewer.is_active:
        return None
    if viewer.kind == UserKind.PERSON:
        return Q(application__person=viewer)
    if viewer.kind == UserKind.COMPANY and viewer.company_id is not None:
        return Q(application__person__profile__company_id=viewer.company_id)
    if viewer.kind == UserKind.STAFF:
        return Q()
    return None


def exam_entries_visible_to(*, viewer: User) -> QuerySet[ExamEntry]:
    """Newest sitting first."""
    visible = _visible_to(viewer)
    if visible is None:
        return ExamEntry.objects.none()
    return ExamEntry.objects.select_related(*_RELATED).filter(visible).order_by("-session__starts_at", "-pk")


def exam_entry_get_for_viewer(*, entry_id: int, viewer: User) -> ExamEntry:
    """Raises ExamEntry.DoesNotExist when the entry does not exist or `viewer` may not see it."""
    return exam_entries_visible_to(viewer=viewer).get(pk=entry_id)


def exam_session_get(*, session_id: int) -> ExamSession:
    """Preconditions: the caller is staff (the view checks the role)."""
    return ExamSession.objects.select_related("program").get(pk=session_id)


def exam_session_entries(*, session_id: int) -> QuerySet[ExamEntry]:
    """Staff console: the session's seats in seat order, with their scores."""
    return (
        ExamEntry.objects.select_related("application__person__profile", "score")
        .filter(session_id=session_id)
        .order_by("seat_number")
    )

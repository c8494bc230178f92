"""Reading documents. Anything fetched by a client-supplied id goes through `document_get_for_viewer`."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from shared.accounts.models import Company, PersonProfile, StaffRole, User, UserKind
from shared.documents.models import Document, DocumentStatus

# Staff roles that may open people's documents: reviewers confirm them, admins hold every role.
DOCUMENT_VIEWER_ROLES = frozenset({StaffRole.REVIEWER, StaffRole.ADMIN})


def _visible_to(viewer: User) -> Q | None:
    """The documents `viewer` may open, as a filter; None when none at all."""
    if not getattr(viewer, "is_authenticated", False) or not viewer.is_active:
        return None
    if viewer.kind == UserKind.STAFF:
        if DOCUMENT_VIEWER_ROLES.intersection(viewer.staff_roles):
            return Q()
        return Q(owner=viewer)
    if viewer.kind == UserKind.COMPANY and viewer.company_id is not None:
        its_people = PersonProfile.objects.filter(company_id=viewer.company_id).values("user_id")
        return (
            Q(owner=viewer)
            # The company's own documents, whichever of its operators uploaded them.
            | Q(company_id=viewer.company_id)
            # Personal documents of the people currently affiliated with the company.
            | Q(company__isnull=True, owner_id__in=its_people)
        )
    if viewer.kind == UserKind.INSTITUTION and viewer.institution_code:
        # A training institution sees the documents submitted with applications to its own sessions.
        from registration.models import ApplicationDocument

        submitted = ApplicationDocument.objects.filter(
            application__session__institution_code=viewer.institution_code
        ).values("document_id")
        return Q(owner=viewer) | Q(pk__in=submitted)
    return Q(owner=viewer)


def document_get_for_viewer(*, document_id: int, viewer: User) -> Document:
    """The document, if `viewer` may open it: its owner; association staff with the reviewer or admin
    role; a company operator for its company's documents and for its people's (PersonProfile.company); a
    training institution for those submitted with applications to its sessions.

    Raises Document.DoesNotExist for everyone else, exactly as for an id that does not exist, so callers
    answer 404 and ids cannot be probed.
    """
    visible = _visible_to(viewer)
    if visible is None:
        raise Document.DoesNotExist
    return Document.objects.select_related("owner", "company").filter(visible).get(pk=document_id)


def documents_for_review(
    *, status: str = DocumentStatus.UPLOADED, key: str | None = None
) -> QuerySet[Document]:
    """Current (not superseded) documents in `status`, oldest first, for the staff review queue.

    Preconditions: the caller is staff allowed to review (the view checks the role).
    """
    queryset = Document.objects.filter(status=status, superseded_at__isnull=True)
    if key is not None:
        queryset = queryset.filter(key=key)
    return queryset.select_related("owner", "owner__profile", "company").order_by("uploaded_at", "id")


def document_status_counts(*, key: str | None = None) -> dict[str, int]:
    """How many current documents are in each status (every status present, zero when none)."""
    queryset = Document.objects.filter(superseded_at__isnull=True)
    if key is not None:
        queryset = queryset.filter(key=key)
    counts = {status: 0 for status in DocumentStatus.values}
    for row in queryset.values("status").annotate(total=Count("id")):
        counts[row["status"]] = row["total"]
    return counts


def current_documents_in_slot(*, owner: User, key: str, company: Company | None = None) -> QuerySet[Document]:
    """The not-superseded documents of a slot (at most one, by constraint): (`owner`, `key`), or
    (`company`, `key`) for a company's own documents. A queryset, so a service can lock it."""
    queryset = Document.objects.filter(key=key, superseded_at__isnull=True)
    if company is not None:
        return queryset.filter(company=company)
    return queryset.filter(owner=owner, company__isnull=True)


def current_document(*, owner: User, key: str, company: Company | None = None) -> Document | None:
    """The current document of a slot (see `current_documents_in_slot`), or None before the first upload."""
    return current_documents_in_slot(owner=owner, key=key, company=company).first()


def document_history(*, owner: User, key: str) -> list[Document]:
    """The owner's personal documents of one key, newest first (current and superseded)."""
    return list(
        Document.objects.filter(owner=owner, key=key, company__isnull=True).order_by("-uploaded_at", "-id")
    )

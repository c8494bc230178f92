"""Document services: upload (checked, stored privately, superseding the slot's previous document), the
review transitions of `DOCUMENT_TRANSITIONS`, and the audit entry for looking at someone else's file.

No side effects beyond the database row, the stored file and the audit entry.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from shared.accounts.models import Company, User, UserKind
from shared.documents.checks import CheckedUpload, check_upload
from shared.documents.models import CONTENT_TYPES, DOCUMENT_TRANSITIONS, Document, DocumentStatus
from shared.documents.selectors import current_documents_in_slot
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import DocumentSpec

RETURN_REASON_MAX_LENGTH = 200
ORIGINAL_NAME_MAX_LENGTH = 255


class DocumentError(CodedError):
    """A refused document action: `code` is stable English, `message` is shown to the user."""


def _original_name(filename: str) -> str:
    # Only the last path component, as shown to staff; browsers on Windows may send a full path.
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    if len(name) <= ORIGINAL_NAME_MAX_LENGTH:
        return name
    suffix = PurePosixPath(name).suffix[:16]
    return name[: ORIGINAL_NAME_MAX_LENGTH - len(suffix)] + suffix


def document_upload(
    *,
    owner: User,
    key: str,
    spec: DocumentSpec,
    data: bytes,
    filename: str,
    review_required: bool,
    company: Company | None = None,
    actor: User | None = None,
    checked: CheckedUpload | None = None,
) -> Document:
    """Check `data` against `spec`, store it privately and make it the current document of its slot.

    `actor` is who uploads when it is not the owner (a company uploading its people's photos); the
    audit entry names them. `checked` is the result of `check_upload` on this very data and spec when
    the caller has already run it (the photo-zip reader does), so the image is not decoded twice.

    The slot is (`owner`, `key`), or (`company`, `key`) for a company's own documents. The slot's previous
    current document, whatever its state, is superseded by the new one (a re-upload after a return, or a
    replacement). The new document is `uploaded` (待确认) when `review_required`, else `accepted` at once;
    the caller decides from the rules (for the profile photo: `rules.identity.photo_review_by_staff`).

    Preconditions: `owner` is an active person or company-operator account of the current schema; with
    `company`, `owner` is one of that company's operators.

    Raises:
        UploadProblem: the file fails the spec (unchanged from `check_upload`); nothing is stored.
        DocumentError("owner_not_allowed"): the owner cannot hold documents, or is not an operator of
            `company`; nothing is stored.
    """
    if not owner.is_active or owner.kind not in (UserKind.PERSON, UserKind.COMPANY):
        raise DocumentError("owner_not_allowed", "该账户不能上传资料")
    if company is not None and owner.company_id != company.pk:
        raise DocumentError("owner_not_allowed", "只能为本单位上传资料")
    if checked is None or checked.sha256 != hashlib.sha256(data).hexdigest():
        checked = check_upload(data=data, filename=filename, spec=spec)
    now = timezone.now()
    document = Document(
        owner=owner,
        company=company,
        key=key,
        original_name=_original_name(filename),
        content_type=CONTENT_TYPES[checked.format],
        size_bytes=checked.size_bytes,
        sha256=checked.sha256,
        width=checked.width,
        height=checked.height,
        status=DocumentStatus.UPLOADED if review_required else DocumentStatus.ACCEPTED,
        uploaded_at=now,
    )
    stored_name: str | None = None
    try:
        with transaction.atomic():
            # Serialises uploads into one slot: the second waits here, then supersedes the first's document.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            if company is not None:
                Company.objects.select_for_update().filter(pk=company.pk).first()
            previous = (
                current_documents_in_slot(owner=owner, key=key, company=company).select_for_update().first()
            )
            if previous is not None:
                # Leaves the slot first (see Document.superseded_at), then points at its successor below.
                previous.superseded_at = now
                previous.save(update_fields=["superseded_at"])
            # The name given here is ignored by `document_upload_to`; the content type decides the extension.
            document.file.save(f"upload{checked.extension}", ContentFile(data), save=False)
            stored_name = document.file.name
            document.save()
            if previous is not None:
                previous.superseded_by = document
                previous.save(update_fields=["superseded_by"])
            audit_record(
                actor=actor or owner,
                action="document.upload",
                target=document,
                data={
                    "key": key,
                    "company": company.pk if company is not None else None,
                    "status": document.status,
                    "sha256": checked.sha256,
                    "size_bytes": checked.size_bytes,
                    "supersedes": previous.pk if previous is not None else None,
                },
            )
    except BaseException:
        # The row is gone with the transaction; do not leave its file behind.
        if stored_name:
            document.file.storage.delete(stored_name)
        raise
    return document


def _transition(*, document_id: int, to: str, actor: User, reason: str = "") -> Document:
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document_id)
        if document.status == to:
            return document  # already applied
        if document.superseded_at is not None:
            raise DocumentError("document_superseded", "该资料已被重新上传的文件替换，请处理最新的文件")
        if to not in DOCUMENT_TRANSITIONS[document.status]:
            raise DocumentError("invalid_transition", f"该资料{document.get_status_display()}，不能再操作")
        previous_status = document.status
        document.status = to
        document.return_reason = reason
        document.reviewed_by = actor
        document.reviewed_at = timezone.now()
        document.save(update_fields=["status", "return_reason", "reviewed_by", "reviewed_at"])
        audit_record(
            actor=actor,
            action=f"document.{'accept' if to == DocumentStatus.ACCEPTED else 'return'}",
            target=document,
            data={"key": document.key, "from": previous_status, "reason": reason},
        )
    return document


def document_accept(*, document_id: int, actor: User) -> Document:
    """Confirm a document (待确认 → 已确认). A no-op when it is already accepted.

    Preconditions: `actor` is association staff allowed to review (the view checks the role).

    Raises:
        Document.DoesNotExist: no such document in this tenant.
        DocumentError("document_superseded"): a newer upload replaced it.
        DocumentError("invalid_transition"): it was returned (the owner must upload again).
    """
    return _transition(document_id=document_id, to=DocumentStatus.ACCEPTED, actor=actor)


def document_return(*, document_id: int, actor: User, reason: str) -> Document:
    """Return a document to its owner with a reason (待确认 or 已确认 → 已退回); the owner re-uploads.

    A no-op when it is already returned (the first reason stays).

    Preconditions: `actor` is association staff allowed to review (the view checks the role).

    Raises:
        DocumentError("reason_required") / DocumentError("reason_too_long"): bad reason; nothing changes.
        Document.DoesNotExist: no such document in this tenant.
        DocumentError("document_superseded"): a newer upload replaced it.
    """
    reason = reason.strip()
    if not reason:
        raise DocumentError("reason_required", "请填写退回原因")
    if len(reason) > RETURN_REASON_MAX_LENGTH:
        raise DocumentError("reason_too_long", f"退回原因最多 {RETURN_REASON_MAX_LENGTH} 字")
    return _transition(document_id=document_id, to=DocumentStatus.RETURNED, actor=actor, reason=reason)


def document_view_record(*, document: Document, viewer: User) -> None:
    """Audit-log that `viewer` opened someone else's document (personal data, DESIGN §8).

    Preconditions: `viewer` was allowed by `document_get_for_viewer`. Owners viewing their own files are
    not logged.
    """
    if viewer.pk == document.owner_id:
        return
    audit_record(
        actor=viewer,
        action="document.view",
        target=document,
        data={"key": document.key, "owner": document.owner_id},
    )

"""Issuing, revoking and rendering certificates, one at a time or as a background batch.

Preconditions the caller checks: that the holder meets the kind's condition (paid, approved, passed…) —
registration, billing and membership call `certificate_issue` at the moment the condition is met. This
module checks what it owns: the kind exists in the rules and fits the application's program, the holder
is the application's person, and each (kind, holder, application) gets one certificate at most.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from certificates.models import (
    CERTIFICATE_TRANSITIONS,
    Certificate,
    CertificateBatch,
    CertificateBatchStatus,
    CertificateCounter,
    CertificateStatus,
)
from certificates.numbering import certificate_number, mask_id_number, valid_until_for
from certificates.printouts import CertificatePrintout, certificate_printout_pdf
from certificates.selectors import (
    applications_eligible,
    kind_rules,
    tenant_primary_host,
    verification_url,
)
from registration.models import Application, Program
from shared.accounts.models import PersonProfile, User, UserKind
from shared.documents.models import Document, DocumentStatus
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import CertificateCondition, CertificateKindRules, Rules

logger = logging.getLogger(__name__)

REVOKE_REASON_MAX = 200
# Batch progress is written every this many certificates (each write is its own small transaction).
PROGRESS_EVERY = 10


class CertificateError(CodedError):
    """A refusal: unknown_kind, kind_not_for_program, not_a_person, holder_mismatch, reason_required,
    reason_too_long, forbidden, invalid_state, nothing_to_issue."""


# ---------------------------------------------------------------------------------------------------------
# issuing
# ---------------------------------------------------------------------------------------------------------


def _kind_or_refuse(rules: Rules, kind_code: str) -> CertificateKindRules:
    kind = kind_rules(rules, kind_code)
    if kind is None:
        raise CertificateError("unknown_kind", f"证书种类「{kind_code}」不在本协会的规则中")
    return kind


def _check_holder(*, kind: CertificateKindRules, holder: User, application: Application | None) -> None:
    if holder.kind != UserKind.PERSON:
        raise CertificateError("not_a_person", "证书只能发给个人")
    if application is None:
        return
    if application.person_id != holder.pk:
        raise CertificateError("holder_mismatch", "持证人与报名人不一致")
    if kind.programs and application.program.code not in kind.programs:
        raise CertificateError(
            "kind_not_for_program", f"「{kind.title}」不适用于培训项目「{application.program.name}」"
        )


def holder_snapshot(*, rules: Rules, holder: User) -> dict:
    """Who the holder is at issuance: name, ID number (full and masked), employer, and the photo document."""
    profile = PersonProfile.objects.select_related("company").filter(user=holder).first()
    name = (profile.name if profile else "") or holder.name or holder.username
    id_number = (profile.id_number if profile else "") or holder.id_number
    company_name = ""
    if profile is not None:
        company_name = profile.company.name if profile.company_id else profile.company_name
    photo_document_id = None
    spec = rules.identity.profile_photo
    if spec is not None:
        photo_document_id = (
            Document.objects.filter(
                owner=holder,
                key=spec.key,
                company__isnull=True,
                superseded_at__isnull=True,
                content_type__in=("image/jpeg", "image/png"),
            )
            .exclude(status=DocumentStatus.RETURNED)
            .values_list("pk", flat=True)
            .first()
        )
    return {
        "name": name,
        "id_number": id_number,
        "id_number_masked": mask_id_number(id_number),
        "company_name": company_name,
        "photo_document_id": photo_document_id,
    }


def _issue(
    *,
    rules: Rules,
    kind: CertificateKindRules,
    holder: User,
    application: Application | None,
    actor: User | None,
    now: datetime,
    batch: CertificateBatch | None = None,
    subject: str = "",
    valid_until: date | None = None,
) -> tuple[Certificate, bool]:
    """Issue inside the caller's transaction; (certificate, created)."""
    year = timezone.localtime(now).year
    CertificateCounter.objects.bulk_create(
        [CertificateCounter(kind_code=kind.code, year=year)], ignore_conflicts=True
    )
    # The counter row serialises every issuance of this kind and year, so the re-check below sees a
    # certificate another transaction just issued (READ COMMITTED reads after the lock is granted).
    counter = CertificateCounter.objects.select_for_update().get(kind_code=kind.code, year=year)
    existing = Certificate.objects.filter(
        kind_code=kind.code, holder=holder, application=application, subject=subject
    ).first()
    if existing is not None:
        return existing, False
    program_code = application.program.code if application is not None else ""
    seq = counter.last_seq + 1
    number = certificate_number(pattern=kind.numbering_pattern, year=year, seq=seq, program=program_code)
    # Two kinds may share a pattern: skip numbers the other kind already took.
    while Certificate.objects.filter(number=number).exists():
        seq += 1
        number = certificate_number(pattern=kind.numbering_pattern, year=year, seq=seq, program=program_code)
    counter.last_seq = seq
    counter.save(update_fields=["last_seq"])
    certificate = Certificate.objects.create(
        kind_code=kind.code,
        kind=str(kind.kind),
        title=kind.title,
        number=number,
        holder=holder,
        holder_snapshot=holder_snapshot(rules=rules, holder=holder),
        application=application,
        subject=subject,
        program_code=program_code,
        program_name=application.program.name if application is not None else "",
        issued_at=now,
        valid_until=valid_until
        or valid_until_for(issued_on=timezone.localdate(now), validity_years=kind.validity_years),
        issued_by=actor if actor is not None and actor.pk else None,
        batch=batch,
    )
    audit_record(
        actor=actor,
        action="certificate.issue",
        target=certificate,
        data={"number": number, "kind": kind.code, "application": application.pk if application else None},
    )
    return certificate, True


def certificate_issue(
    *,
    rules: Rules,
    kind_code: str,
    holder: User,
    application: Application | None = None,
    actor: User | None,
    now: datetime | None = None,
    subject: str = "",
    valid_until: date | None = None,
) -> Certificate:
    """Issue the certificate of `kind_code` to `holder` (for `application`, if any) with the next registry
    number of the kind's pattern. Idempotent: issuing the same (kind, holder, application, subject) again
    returns the certificate already issued, revoked or not. Its PDF is rendered and stored after commit.
    `subject` names what is certified when there is no application (a membership period); `valid_until`
    replaces the kind's validity_years when the thing certified has its own end (the membership's end date).

    Raises CertificateError (`unknown_kind`, `not_a_person`, `holder_mismatch`, `kind_not_for_program`).
    """
    kind = _kind_or_refuse(rules, kind_code)
    _check_holder(kind=kind, holder=holder, application=application)
    with transaction.atomic():
        certificate, created = _issue(
            rules=rules,
            kind=kind,
            holder=holder,
            application=application,
            actor=actor,
            now=now or timezone.now(),
            subject=subject,
            valid_until=valid_until,
        )
        if created:
            from certificates.tasks import certificate_pdf_store_task

            transaction.on_commit(lambda: certificate_pdf_store_task.delay(certificate.pk))
    return certificate


# ---------------------------------------------------------------------------------------------------------
# revoking
# ---------------------------------------------------------------------------------------------------------


def certificate_revoke(
    *, certificate_id: int, actor: User, reason: str, now: datetime | None = None
) -> Certificate:
    """Association staff revoke a certificate, with a reason; the verification page then says 已撤销.

    Revoking a revoked certificate is a no-op. Raises CertificateError (`forbidden`, `reason_required`,
    `reason_too_long`) and Certificate.DoesNotExist.
    """
    if not actor.is_association_staff:
        raise CertificateError("forbidden", "只有协会工作人员可以撤销证书")
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("reason_required", "请填写撤销原因")
    if len(reason) > REVOKE_REASON_MAX:
        raise CertificateError("reason_too_long", f"撤销原因不能超过 {REVOKE_REASON_MAX} 字")
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().get(pk=certificate_id)
        if certificate.status == CertificateStatus.REVOKED:
            return certificate
        if CertificateStatus.REVOKED not in CERTIFICATE_TRANSITIONS[certificate.status]:
            raise CertificateError("invalid_state", "该证书当前状态不能撤销")
        from_status = certificate.status
        certificate.status = CertificateStatus.REVOKED
        certificate.revoked_at = now or timezone.now()
        certificate.revoked_by = actor
        certificate.revoke_reason = reason
        certificate.save(update_fields=["status", "revoked_at", "revoked_by", "revoke_reason"])
        audit_record(
            actor=actor,
            action="certificate.revoke",
            target=certificate,
            data={"number": certificate.number, "from": from_status, "reason": reason},
        )
    return certificate


# ---------------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------------


def _photo(certificate: Certificate) -> tuple[bytes | None, str]:
    document_id = certificate.holder_snapshot.get("photo_document_id")
    if not document_id:
        return None, ""
    document = Document.objects.filter(pk=document_id, owner_id=certificate.holder_id).first()
    if document is None or not document.is_image:
        return None, ""
    try:
        with document.file.open("rb") as handle:
            return handle.read(), document.content_type
    except FileNotFoundError:
        logger.warning("certificate %s: photo document %s has no file", certificate.pk, document_id)
        return None, ""


def certificate_printout(certificate: Certificate, *, rules: Rules, host: str) -> CertificatePrintout:
    snapshot = certificate.holder_snapshot
    photo, photo_type = _photo(certificate)
    registry = rules.certificates.registry_enabled and bool(host)
    return CertificatePrintout(
        association_name=rules.association.name,
        title=certificate.title,
        number=certificate.number,
        holder_name=snapshot.get("name", ""),
        id_number=snapshot.get("id_number", ""),
        company_name=snapshot.get("company_name", ""),
        program_name=certificate.program_name,
        issued_on=timezone.localdate(certificate.issued_at),
        valid_until=certificate.valid_until,
        verification_code=certificate.verification_code,
        verification_url=verification_url(host=host, code=certificate.verification_code) if registry else "",
        photo=photo,
        photo_content_type=photo_type,
    )


def certificate_pdf(
    certificate: Certificate, *, rules: Rules | None = None, host: str | None = None
) -> bytes:
    """The certificate as PDF bytes: the stored rendering when there is one, else rendered now.

    The QR code points at https://<tenant's primary host>/verify/<code>/ (only when the registry is on).
    """
    if certificate.pdf:
        try:
            with certificate.pdf.open("rb") as handle:
                return handle.read()
        except FileNotFoundError:
            logger.warning("certificate %s: stored PDF missing, rendering again", certificate.pk)
    from tenant_configs.selectors import rules_current

    rules = rules or rules_current()
    host = tenant_primary_host() if host is None else host
    return certificate_printout_pdf(certificate_printout(certificate, rules=rules, host=host))


def certificate_download(*, certificate: Certificate, viewer: User) -> bytes:
    """The PDF for someone the selector let see it. A download by anyone but the holder (a company
    operator, staff) is audit-logged: the PDF carries the full ID number (DESIGN §8)."""
    data = certificate_pdf(certificate)
    if viewer.pk != certificate.holder_id:
        audit_record(actor=viewer, action="certificate.download", target=certificate)
    return data


def certificate_pdf_store(
    *, certificate_id: int, rules: Rules | None = None, host: str | None = None
) -> bool:
    """Render and store the PDF of a certificate that has none yet; False when it already had one."""
    certificate = Certificate.objects.select_related("holder").get(pk=certificate_id)
    if certificate.pdf:
        return False
    data = certificate_pdf(certificate, rules=rules, host=host)
    certificate.pdf.save(f"{certificate.verification_code}.pdf", ContentFile(data), save=False)
    # Only the file name column: a concurrent revocation is never overwritten.
    Certificate.objects.filter(pk=certificate.pk, pdf="").update(pdf=certificate.pdf.name)
    return True


# ---------------------------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------------------------


def certificate_batch_start(
    *, rules: Rules, kind_code: str, program_id: int, actor: User, now: datetime | None = None
) -> CertificateBatch:
    """Queue a background job issuing `kind_code` to every eligible application of the program (by the
    kind's condition: approved / paid / completed) that does not have it yet; it starts after commit.

    Raises CertificateError (`forbidden`, `unknown_kind`, `kind_not_for_program`, `nothing_to_issue`) and
    Program.DoesNotExist.
    """
    if not actor.is_association_staff:
        raise CertificateError("forbidden", "只有协会工作人员可以批量发证")
    kind = _kind_or_refuse(rules, kind_code)
    program = Program.objects.get(pk=program_id)
    if kind.programs and program.code not in kind.programs:
        raise CertificateError("kind_not_for_program", f"「{kind.title}」不适用于培训项目「{program.name}」")
    with transaction.atomic():
        application_ids = list(
            applications_eligible(rules=rules, kind_code=kind_code, program_id=program.pk).values_list(
                "pk", flat=True
            )
        )
        if not application_ids:
            raise CertificateError("nothing_to_issue", "该项目没有待发证的报名")
        batch = CertificateBatch.objects.create(
            kind_code=kind.code,
            title=kind.title,
            program=program,
            application_ids=application_ids,
            total=len(application_ids),
            created_by=actor,
            created_at=now or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="certificate.batch_start",
            target=batch,
            data={"kind": kind.code, "program": program.code, "total": batch.total},
        )
        from certificates.tasks import certificate_batch_run_task

        transaction.on_commit(lambda: certificate_batch_run_task.delay(batch.pk))
    return batch


def _batch_finish(batch_id: int, *, status: str, done: int, error: str = "") -> None:
    CertificateBatch.objects.filter(pk=batch_id).update(
        status=status, done_count=done, error=error[:500], finished_at=timezone.now()
    )


def certificate_batch_run(*, batch_id: int, rules: Rules | None = None) -> CertificateBatch:
    """Run a queued batch: issue each application's certificate (one transaction each) and store its PDF,
    writing progress as it goes. Safe to run again (a redelivered task): issuing and storing are
    idempotent, and a finished batch is left alone. A refusal ends the batch as failed, with its message.
    """
    from tenant_configs.selectors import rules_current

    with transaction.atomic():
        batch = CertificateBatch.objects.select_for_update().get(pk=batch_id)
        if batch.is_finished:
            return batch
        batch.status = CertificateBatchStatus.RUNNING
        batch.started_at = timezone.now()
        batch.save(update_fields=["status", "started_at"])
    rules = rules or rules_current()
    host = tenant_primary_host()
    done = 0
    try:
        kind = _kind_or_refuse(rules, batch.kind_code)
        applications = (
            Application.objects.select_related("person", "program")
            .filter(pk__in=batch.application_ids)
            .order_by("pk")
        )
        for application in applications.iterator(chunk_size=200):
            _check_holder(kind=kind, holder=application.person, application=application)
            with transaction.atomic():
                certificate, _created = _issue(
                    rules=rules,
                    kind=kind,
                    holder=application.person,
                    application=application,
                    actor=batch.created_by,
                    now=timezone.now(),
                    batch=batch,
                )
            certificate_pdf_store(certificate_id=certificate.pk, rules=rules, host=host)
            done += 1
            if done % PROGRESS_EVERY == 0:
                CertificateBatch.objects.filter(pk=batch_id).update(done_count=done)
    except CertificateError as error:
        _batch_finish(batch_id, status=CertificateBatchStatus.FAILED, done=done, error=error.message)
    except Exception as error:
        _batch_finish(batch_id, status=CertificateBatchStatus.FAILED, done=done, error=f"系统错误：{error}")
        raise
    else:
        missing = batch.total - done
        _batch_finish(
            batch_id,
            status=CertificateBatchStatus.DONE,
            done=done,
            error=f"{missing} 个报名已不存在，未发证" if missing else "",
        )
    return CertificateBatch.objects.get(pk=batch_id)


PAYMENT_CONDITIONS = frozenset(
    {CertificateCondition.AFTER_PAYMENT, CertificateCondition.AFTER_PAYMENT_APPROVAL}
)


def certificates_issue_on_payment(
    *, rules: Rules, application_ids: list[int], actor: User | None, now: datetime | None = None
) -> list[Certificate]:
    """Billing calls this inside the transaction that marks the applications paid (an online notify, or
    finance confirming a transfer): the kinds issued after payment (听课证) for each application whose program
    they apply to. Idempotent like certificate_issue; no query at all where the rules issue nothing then."""
    kinds = [kind for kind in rules.certificates.kinds if kind.condition in PAYMENT_CONDITIONS]
    if not kinds or not application_ids:
        return []
    applications = Application.objects.select_related("program", "person").filter(pk__in=application_ids)
    issued = []
    for application in applications.order_by("pk"):
        for kind in kinds:
            if kind.programs and application.program.code not in kind.programs:
                continue
            issued.append(
                certificate_issue(
                    rules=rules,
                    kind_code=kind.code,
                    holder=application.person,
                    application=application,
                    actor=actor,
                    now=now,
                )
            )
    return issued

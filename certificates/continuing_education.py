"""Continuing education (继续教育) hours credited to certificates: typed in by staff, or from learning.

A certificate holder must earn `hours_required` hours in each cycle of `cycle_years` years counted from the
certificate's issue date (rules `[certificates.continuing_education]`). Hours are recorded against the
certificate, never the person, so a holder of two certificates renews each on its own; each row keeps the
cycle it counts for (certificates.selectors.ce_progress sums the current one).

Enrolment itself is a registration application naming the certificate (registration.services checks the
number and links `Application.certificate`); this module only records hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from certificates.models import (
    Certificate,
    CertificateStatus,
    ContinuingEducationHours,
    ContinuingEducationSource,
)
from certificates.selectors import CE_EXCLUDED_KINDS, ce_cycle_of
from learning.models import Course, CourseCompletion, Lesson
from registration.models import Application, ApplicationStatus
from shared.accounts.models import StaffRole, User
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import Rules

HOURS_MAX = Decimal("200")
NOTE_MAX = 200
ONE_DECIMAL = Decimal("0.1")
# Staff who may record hours (admins hold every role).
RECORDING_ROLES = (StaffRole.ACADEMIC,)
# Applications whose review chain accepted the person: learning then credits the certificate.
CREDITED_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.PAID, ApplicationStatus.COMPLETED)


class ContinuingEducationError(CodedError):
    """A refusal: ce_disabled, forbidden, hours_invalid, hours_out_of_range, note_too_long,
    certificate_revoked, certificate_not_renewable."""


def hours_parse(raw: object) -> Decimal:
    """Hours as typed (text or number): more than 0, at most 200, at most one decimal place.
    Raises ContinuingEducationError (`hours_invalid`, `hours_out_of_range`)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise ContinuingEducationError("hours_invalid", "学时须为数字，如 8 或 2.5")
    try:
        hours = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except InvalidOperation:
        raise ContinuingEducationError("hours_invalid", "学时须为数字，如 8 或 2.5") from None
    if not hours.is_finite():
        raise ContinuingEducationError("hours_invalid", "学时须为数字，如 8 或 2.5")
    if hours <= 0 or hours > HOURS_MAX:
        raise ContinuingEducationError("hours_out_of_range", f"学时须大于 0 且不超过 {HOURS_MAX}")
    if hours != hours.quantize(ONE_DECIMAL):
        raise ContinuingEducationError("hours_invalid", "学时最多保留一位小数")
    return hours.quantize(ONE_DECIMAL)


def _check_enabled(rules: Rules) -> None:
    if not rules.certificates.continuing_education.enabled:
        raise ContinuingEducationError("ce_disabled", "本协会未启用继续教育")


def _check_renewable(certificate: Certificate) -> None:
    if certificate.status == CertificateStatus.REVOKED:
        raise ContinuingEducationError("certificate_revoked", "该证书已撤销，不能录入继续教育学时")
    if certificate.kind in CE_EXCLUDED_KINDS:
        raise ContinuingEducationError("certificate_not_renewable", "该证件不参加继续教育，不能录入学时")


def ce_hours_record(
    *,
    rules: Rules,
    certificate_id: int,
    hours: object,
    note: str,
    actor: User,
    now: datetime | None = None,
) -> ContinuingEducationHours:
    """Staff (教务 or admin) credit `hours` to a certificate in its current cycle, with a note.

    Raises ContinuingEducationError (`ce_disabled`, `forbidden`, `hours_invalid`, `hours_out_of_range`,
    `note_too_long`, `certificate_revoked`, `certificate_not_renewable`) or Certificate.DoesNotExist;
    nothing is written when it raises.
    """
    _check_enabled(rules)
    if not actor.is_association_staff or not (
        StaffRole.ADMIN in actor.staff_roles or any(role in actor.staff_roles for role in RECORDING_ROLES)
    ):
        raise ContinuingEducationError("forbidden", "只有教务或管理员可以录入继续教育学时")
    amount = hours_parse(hours)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ContinuingEducationError("note_too_long", f"说明不能超过 {NOTE_MAX} 字")
    now = now or timezone.now()
    with transaction.atomic():
        # The lock orders this against a concurrent revocation: hours never land on a revoked certificate.
        certificate = Certificate.objects.select_for_update().get(pk=certificate_id)
        _check_renewable(certificate)
        cycle_start, _ = ce_cycle_of(rules=rules, certificate=certificate, on=timezone.localdate(now))
        row = ContinuingEducationHours.objects.create(
            certificate=certificate,
            hours=amount,
            source=ContinuingEducationSource.STAFF,
            note=note,
            cycle_start=cycle_start,
            recorded_by=actor,
            recorded_at=now,
        )
        audit_record(
            actor=actor,
            action="certificate.ce_hours",
            target=certificate,
            data={"number": certificate.number, "hours": str(amount), "cycle_start": cycle_start.isoformat()},
        )
    return row


def course_hours(course: Course) -> Decimal:
    """A course's hours: its lessons' running time in hours, to one decimal (half up), at least 0.1."""
    seconds = Lesson.objects.filter(course=course).aggregate(total=Sum("duration_seconds"))["total"] or 0
    hours = (Decimal(seconds) / Decimal(3600)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)
    return max(hours, ONE_DECIMAL)


@dataclass(frozen=True)
class LearningCredit:
    certificate_id: int
    hours: Decimal
    created: bool


def ce_hours_from_learning(
    *, rules: Rules, person: User, course: Course, now: datetime | None = None
) -> list[LearningCredit]:
    """Credit a completed course's hours to the certificate of each of the person's accepted
    continuing-education applications of the course's program. For learning to call right after it
    records a CourseCompletion (learning.services); safe to call again: a course credits a certificate
    once (unique constraint, ON CONFLICT DO NOTHING), so a retry or a race adds nothing.

    Nothing is credited when continuing education is off, the course belongs to no program, the person has
    not completed it, or no accepted application names a certificate that is still renewable (not revoked).
    The hours count for the cycle containing the completion date.
    """
    if not rules.certificates.continuing_education.enabled or course.program_id is None:
        return []
    completion = CourseCompletion.objects.filter(person=person, course=course).first()
    if completion is None:
        return []
    certificate_ids = (
        Application.objects.filter(
            person=person,
            program_id=course.program_id,
            status__in=CREDITED_STATUSES,
            certificate__holder=person,
        )
        .exclude(certificate__status=CertificateStatus.REVOKED)
        .values_list("certificate_id", flat=True)
        .distinct()
    )
    certificates = list(Certificate.objects.filter(pk__in=list(certificate_ids)).order_by("pk"))
    if not certificates:
        return []
    hours = course_hours(course)
    earned_on = timezone.localdate(completion.completed_at)
    now = now or timezone.now()
    existing = set(
        ContinuingEducationHours.objects.filter(certificate__in=certificates, course=course).values_list(
            "certificate_id", flat=True
        )
    )
    rows = [
        ContinuingEducationHours(
            certificate=certificate,
            hours=hours,
            source=ContinuingEducationSource.LEARNING,
            course=course,
            note=course.title[:NOTE_MAX],
            cycle_start=ce_cycle_of(rules=rules, certificate=certificate, on=earned_on)[0],
            recorded_at=now,
        )
        for certificate in certificates
        if certificate.pk not in existing
    ]
    with transaction.atomic():
        ContinuingEducationHours.objects.bulk_create(rows, ignore_conflicts=True)
    return [
        LearningCredit(certificate.pk, hours, certificate.pk not in existing) for certificate in certificates
    ]

"""Reading certificates across an ownership boundary (STYLE.md: selectors check ownership).

A person sees their own certificates, a company operator those of its people (PersonProfile.company),
association staff every certificate of their tenant. Not-yours and does-not-exist look the same
(`Certificate.DoesNotExist`), so ids and verification codes cannot be probed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from certificates.models import (
    Certificate,
    CertificateBatch,
    CertificateStatus,
    ContinuingEducationHours,
)
from registration.models import Application, ApplicationStatus, Program
from shared.accounts.models import User, UserKind
from tenant_configs.schema import (
    CertificateCondition,
    CertificateKind,
    CertificateKindRules,
    ProgramKind,
    Rules,
)

# secrets.token_urlsafe(16): 22 characters of the URL-safe base64 alphabet. Anything else is refused
# before the database is asked.
VERIFICATION_CODE = re.compile(r"[A-Za-z0-9_-]{22}")

# Which applications a batch may issue a kind to, by the kind's condition. Exams and learning records
# do not exist yet: until they do, a completed application stands for "passed and reviewed" and
# "finished the learning".
ELIGIBLE_STATUSES: dict[str, tuple[str, ...]] = {
    CertificateCondition.AFTER_APPROVAL: (
        ApplicationStatus.APPROVED,
        ApplicationStatus.PAID,
        ApplicationStatus.COMPLETED,
    ),
    CertificateCondition.AFTER_PAYMENT: (ApplicationStatus.PAID, ApplicationStatus.COMPLETED),
    CertificateCondition.AFTER_PAYMENT_APPROVAL: (ApplicationStatus.PAID, ApplicationStatus.COMPLETED),
    CertificateCondition.AFTER_LEARNING_COMPLETION: (ApplicationStatus.COMPLETED,),
    CertificateCondition.AFTER_PASS_AND_REVIEW: (ApplicationStatus.COMPLETED,),
    CertificateCondition.AFTER_MEMBERSHIP_PAYMENT: (),  # issued by membership, not per program
}

_RELATED = ("holder", "application__session")


def kind_rules(rules: Rules, kind_code: str) -> CertificateKindRules | None:
    return next((kind for kind in rules.certificates.kinds if kind.code == kind_code), None)


def tenant_primary_host() -> str:
    """The primary host name of the tenant on the connection (e.g. `henan.example.cn`), "" when none."""
    from tenants.models import Domain

    row = (
        Domain.objects.filter(tenant__schema_name=connection.schema_name)
        .order_by("-is_primary", "id")
        .values_list("domain", flat=True)
        .first()
    )
    return row or ""


def verification_url(*, host: str, code: str) -> str:
    """The public verification page of a certificate on its tenant's own domain."""
    return f"https://{host}/verify/{code}/"


def certificate_get_by_code(*, code: str) -> Certificate:
    """The certificate with this verification code in the current tenant. Raises Certificate.DoesNotExist
    for a malformed, unknown or other tenant's code alike."""
    if not VERIFICATION_CODE.fullmatch(code or ""):
        raise Certificate.DoesNotExist
    return Certificate.objects.get(verification_code=code)


def _visible_to(viewer: User) -> Q | None:
    if not getattr(viewer, "is_authenticated", False) or not viewer.is_active:
        return None
    if viewer.kind == UserKind.PERSON:
        return Q(holder=viewer)
    if viewer.kind == UserKind.COMPANY and viewer.company_id is not None:
        return Q(holder__profile__company_id=viewer.company_id)
    if viewer.kind == UserKind.STAFF:
        return Q()
    return None


def certificates_visible_to(*, viewer: User) -> QuerySet[Certificate]:
    """The person's own certificates; a company's people's; every one for staff; none for anyone else."""
    visible = _visible_to(viewer)
    if visible is None:
        return Certificate.objects.none()
    return Certificate.objects.select_related(*_RELATED).filter(visible)


def certificate_get_for_viewer(*, certificate_id: int, viewer: User) -> Certificate:
    """Raises Certificate.DoesNotExist when the certificate does not exist or `viewer` may not see it."""
    return certificates_visible_to(viewer=viewer).get(pk=certificate_id)


def certificates_search(*, query: str = "", kind_code: str = "") -> QuerySet[Certificate]:
    """Staff console: by registry number, holder name or full ID number (exact). Preconditions: staff."""
    certificates = Certificate.objects.select_related(*_RELATED)
    query = query.strip()
    if query:
        certificates = certificates.filter(
            Q(number=query.upper())
            | Q(number=query)
            | Q(holder_snapshot__name__icontains=query)
            | Q(holder_snapshot__id_number=query.upper())
        )
    if kind_code:
        certificates = certificates.filter(kind_code=kind_code)
    return certificates


def applications_eligible(*, rules: Rules, kind_code: str, program_id: int) -> QuerySet[Application]:
    """Applications of the program whose holders may get the kind now (by its condition) and do not have
    it yet, oldest first. Empty when the kind is unknown or not for this program."""
    kind = kind_rules(rules, kind_code)
    statuses = ELIGIBLE_STATUSES.get(kind.condition, ()) if kind is not None else ()
    applications = Application.objects.filter(program_id=program_id, status__in=statuses)
    if kind is None or not statuses:
        return applications.none()
    if kind.programs:
        applications = applications.filter(program__code__in=kind.programs)
    # application_id IS NOT NULL: a NULL in a NOT IN list would exclude every row.
    issued = Certificate.objects.filter(kind_code=kind_code, application__isnull=False).values(
        "application_id"
    )
    return applications.exclude(pk__in=issued).order_by("pk")


def batch_get(*, batch_id: int) -> CertificateBatch:
    """Preconditions: the caller is staff (the view checks the role)."""
    return CertificateBatch.objects.get(pk=batch_id)


# ---------------------------------------------------------------------------------------------------------
# continuing education (继续教育): enrolment by certificate number, hours per cycle
# ---------------------------------------------------------------------------------------------------------

# Cards that admit to a course or an exam are not certificates a holder renews by continuing education.
CE_EXCLUDED_KINDS = (
    CertificateKind.TEST_CARD,
    CertificateKind.ADMISSION_TICKET,
    CertificateKind.ATTENDANCE_CARD,
)


def _number_matches(number: str) -> Q:
    number = (number or "").strip()
    return Q(number=number) | Q(number=number.upper())


def certificate_for_holder_by_number(*, holder: User, number: str) -> Certificate | None:
    """The holder's own certificate with this registry number that continuing education may renew: not
    revoked (an expired one is allowed: renewing it is the point) and not an admission card. None when
    the number is blank, unknown, another person's or revoked — the applicant is told the same for all."""
    if not (number or "").strip():
        return None
    return (
        Certificate.objects.filter(_number_matches(number), holder=holder)
        .exclude(status=CertificateStatus.REVOKED)
        .exclude(kind__in=CE_EXCLUDED_KINDS)
        .first()
    )


def certificate_get_by_number(*, number: str) -> Certificate:
    """Staff console: the tenant's certificate with this registry number. Raises Certificate.DoesNotExist.
    Preconditions: the caller is association staff (every certificate of the tenant is theirs to see)."""
    if not (number or "").strip():
        raise Certificate.DoesNotExist
    certificate = Certificate.objects.select_related("holder").filter(_number_matches(number)).first()
    if certificate is None:
        raise Certificate.DoesNotExist
    return certificate


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year that has none
        return day.replace(year=day.year + years, day=28)


def ce_cycle(*, issued_on: date, cycle_years: int, on: date) -> tuple[date, date]:
    """The continuing-education cycle containing `on`: cycles run from the issue date in steps of
    `cycle_years` years; returns (first day, last day). Before the issue date it is the first cycle."""
    cycle_years = max(cycle_years, 1)
    start, index = issued_on, 0
    while True:
        following = _years_after(issued_on, (index + 1) * cycle_years)
        if on < following:
            return start, following - timedelta(days=1)
        index += 1
        start = following


@dataclass(frozen=True)
class CeProgress:
    hours: Decimal  # hours credited in the current cycle
    hours_required: int
    cycle_start: date
    cycle_end: date  # the cycle's last day

    def __iter__(self):
        return iter((self.hours, self.hours_required, self.cycle_start, self.cycle_end))


def ce_cycle_of(*, rules: Rules, certificate: Certificate, on: date | None = None) -> tuple[date, date]:
    issued_on = timezone.localtime(certificate.issued_at).date()
    on = on or timezone.localdate()
    return ce_cycle(
        issued_on=issued_on, cycle_years=rules.certificates.continuing_education.cycle_years, on=on
    )


def ce_progress_for(
    *, rules: Rules, certificates: list[Certificate], today: date | None = None
) -> dict[int, CeProgress]:
    """`ce_progress` of many certificates in one query: {certificate id: progress}."""
    cycles = {
        certificate.pk: ce_cycle_of(rules=rules, certificate=certificate, on=today)
        for certificate in certificates
    }
    if not cycles:
        return {}
    wanted = Q()
    for certificate_id, (start, _end) in cycles.items():
        wanted |= Q(certificate_id=certificate_id, cycle_start=start)
    sums = dict(
        ContinuingEducationHours.objects.filter(wanted)
        .values("certificate_id")
        .annotate(total=Sum("hours"))
        .values_list("certificate_id", "total")
    )
    required = rules.certificates.continuing_education.hours_required
    return {
        certificate_id: CeProgress(sums.get(certificate_id) or Decimal("0.0"), required, start, end)
        for certificate_id, (start, end) in cycles.items()
    }


def ce_progress(*, rules: Rules, certificate: Certificate, today: date | None = None) -> CeProgress:
    """(hours in the current cycle, hours required, cycle start, cycle end) of one certificate; unpacks
    as a tuple. The current cycle is the one containing `today` (local date)."""
    return ce_progress_for(rules=rules, certificates=[certificate], today=today)[certificate.pk]


def ce_hours_rows(*, certificate: Certificate) -> QuerySet[ContinuingEducationHours]:
    """The hours recorded against a certificate, newest first. Preconditions: the caller may see it."""
    return ContinuingEducationHours.objects.select_related("course", "recorded_by").filter(
        certificate=certificate
    )


def ce_program(*, rules: Rules) -> Program | None:
    """The open program people enrol in for continuing education by certificate number (with a wizard),
    or None when the rules do not key continuing education by certificate number."""
    if not rules.certificates.continuing_education.keyed_by_certificate_number:
        return None
    codes = [
        program.code
        for program in rules.programs
        if program.kind == ProgramKind.CONTINUING_EDUCATION and program.wizard_steps
    ]
    if not codes:
        return None
    found = {program.code: program for program in Program.objects.filter(code__in=codes, is_open=True)}
    return next((found[code] for code in codes if code in found), None)

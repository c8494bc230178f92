"""Reading certificates across an ownership boundary (STYLE.md: selectors check ownership).

A person sees their own certificates, a company operator those of its people (PersonProfile.company),
association staff every certificate of their tenant. Not-yours and does-not-exist look the same
(`Certificate.DoesNotExist`), so ids and verification codes cannot be probed.
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import Q, QuerySet

from certificates.models import Certificate, CertificateBatch
from registration.models import Application, ApplicationStatus
from shared.accounts.models import User, UserKind
from tenant_configs.schema import CertificateCondition, CertificateKindRules, Rules

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

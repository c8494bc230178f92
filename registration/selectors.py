"""Reading applications and sessions across an ownership boundary (STYLE.md: selectors check ownership).

Anything fetched by a client-supplied id comes through here: a person sees only their own applications,
a company operator only its company's people, an institution only its own sessions, staff their tenant.
Not-yours and does-not-exist look the same (`Application.DoesNotExist`), so ids cannot be probed.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from registration import rules as engine
from registration.models import REVIEW_STATUSES, Application, ApplicationStatus, TrainingSession
from shared.accounts.models import User, UserKind
from tenant_configs.schema import Rules

_RELATED = ("program", "session", "person", "company")


def sessions_open(
    *, now: datetime | None = None, program_codes: list[str] | None = None
) -> list[TrainingSession]:
    """Sessions whose enrolment window is open now, in closing order (with their program)."""
    now = now or timezone.now()
    query = (
        TrainingSession.objects.select_related("program")
        .filter(program__is_open=True)
        .filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .order_by("closes_at", "program__name", "code")
    )
    if program_codes is not None:
        query = query.filter(program__code__in=program_codes)
    return list(query)


def session_get(*, session_id: int) -> TrainingSession:
    return TrainingSession.objects.select_related("program").get(pk=session_id, program__is_open=True)


def seats_left(session: TrainingSession) -> int | None:
    """Free seats, or None when the session has no limit."""
    if session.capacity == 0:
        return None
    return max(session.capacity - session.seats_taken, 0)


def application_get_for_person(*, application_id: int, person: User) -> Application:
    return Application.objects.select_related(*_RELATED).get(pk=application_id, person=person)


def applications_for_person(*, person: User) -> list[Application]:
    """The person's applications, drafts included, newest first."""
    return list(Application.objects.select_related(*_RELATED).filter(person=person))


def draft_for(*, program_id: int, person: User) -> Application | None:
    return Application.objects.filter(
        program_id=program_id, person=person, status=ApplicationStatus.DRAFT
    ).first()


def _visible_to_reviewer(actor: User) -> Q | None:
    if not actor.is_active:
        return None
    if actor.kind == UserKind.COMPANY and actor.company_id is not None:
        return Q(company_id=actor.company_id)
    if actor.kind == UserKind.INSTITUTION and actor.institution_code:
        return Q(session__institution_code=actor.institution_code)
    if actor.kind == UserKind.STAFF:
        return Q()
    return None


def reviewer_step(actor: User) -> str | None:
    """The review step an account decides: its company's, its institution's, or the association's."""
    if actor.kind == UserKind.COMPANY:
        return "company"
    if actor.kind == UserKind.INSTITUTION:
        return "institution"
    if actor.has_staff_role("reviewer") or actor.has_staff_role("admin"):
        return "association"
    return None


def application_get_for_reviewer(*, application_id: int, actor: User) -> Application:
    scope = _visible_to_reviewer(actor)
    if scope is None:
        raise Application.DoesNotExist
    return (
        Application.objects.select_related(*_RELATED)
        .exclude(status=ApplicationStatus.DRAFT)
        .filter(scope)
        .get(pk=application_id)
    )


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""  # "" = waiting for this reviewer's step
    program_id: int | None = None
    session_id: int | None = None
    search: str = ""  # name, ID number or phone of the person


def review_queue(*, actor: User, filters: QueueFilters) -> QuerySet[Application]:
    """Applications this reviewer sees, filtered; by default those waiting at the reviewer's step."""
    scope = _visible_to_reviewer(actor)
    if scope is None:
        return Application.objects.none()
    query = (
        Application.objects.select_related(*_RELATED)
        .exclude(status=ApplicationStatus.DRAFT)
        .filter(scope)
        .order_by("submitted_at", "pk")
    )
    status = filters.status or REVIEW_STATUSES.get(reviewer_step(actor) or "", "")
    if status and status != "all":
        query = query.filter(status=status)
    if filters.program_id:
        query = query.filter(program_id=filters.program_id)
    if filters.session_id:
        query = query.filter(session_id=filters.session_id)
    search = filters.search.strip()
    if search:
        query = query.filter(
            Q(person__profile__name__icontains=search)
            | Q(person__id_number=search.upper())
            | Q(person__phone=search)
        )
    return query


def review_counts(*, actor: User) -> dict[str, int]:
    """How many of the reviewer's applications are in each status (for the queue's tabs)."""
    scope = _visible_to_reviewer(actor)
    if scope is None:
        return {}
    rows = (
        Application.objects.exclude(status=ApplicationStatus.DRAFT)
        .filter(scope)
        .values("status")
        .annotate(count=Count("pk"))
    )
    return {row["status"]: row["count"] for row in rows}


def status_label(*, rules: Rules, status: str) -> str:
    """The tenant's word for a status (miniapp: 审核中 / 待支付 …), the model's label otherwise."""
    label = getattr(rules.applications.status_labels, status, "")
    return label or ApplicationStatus(status).label


def answer_display(*, rules: Rules, application: Application) -> list[tuple[str, str]]:
    """(label, value) of each answer in form order, choices shown by their labels, for pages and the PDF."""
    program = rules.program(application.program.code)
    units = {unit.code: unit.name for unit in rules.organizations.units}
    institutions = {item.code: item.name for item in rules.organizations.institutions}
    rows = []
    for form_field in program.fields:
        if form_field.key not in application.answers:
            continue
        value = application.answers[form_field.key]
        labels = {choice.value: choice.label for choice in form_field.choices}
        labels.update(units if form_field.choices_source == "units" else {})
        labels.update(institutions if form_field.choices_source == "institutions" else {})
        if form_field.choices_source == "sessions" and application.session is not None:
            labels[str(application.session.pk)] = application.session.name
        rows.append((form_field.label, _display(value, labels)))
    if application.with_materials is not None and program.price.materials_policy == "optional":
        rows.append(("培训资料", "购买" if application.with_materials else "不购买"))
    return rows


def _display(value: object, labels: dict[str, str]) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(labels.get(str(item), str(item)) for item in value)
    if isinstance(value, dict):
        return " ".join(str(part) for part in value.values())
    return labels.get(str(value), str(value))


def problems_by_field(problems: tuple[engine.Problem, ...]) -> dict[str, list[str]]:
    """Messages grouped by the input they belong to ("" for the session or the applicant)."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        grouped.setdefault(problem.field or "", []).append(problem.message)
    return grouped


def printout_for(*, rules: Rules, application: Application, association_name: str):
    """What the printable registration form and pledge show (the person's own printout: full ID number)."""
    from registration.printouts import PrintedField, PrintedPledge, RegistrationPrintout
    from registration.services import STEP_LABELS
    from shared.documents.models import Document, DocumentStatus

    program = rules.program(application.program.code)
    profile = getattr(application.person, "profile", None)
    photo, photo_type = None, ""
    spec = rules.identity.profile_photo
    if spec is not None:
        document = (
            Document.objects.filter(
                owner=application.person, key=spec.key, company__isnull=True, superseded_at__isnull=True
            )
            .exclude(status=DocumentStatus.RETURNED)
            .first()
        )
        if document is not None and document.is_image:
            with document.file.open("rb") as handle:
                photo, photo_type = handle.read(), document.content_type
    labels = {document.key: document.label for document in program.documents}
    decisions = tuple(
        PrintedField(
            STEP_LABELS.get(event.step, event.step),
            ("通过" if event.action == "approve" else f"不通过：{event.reason}")
            + f"（{event.created_at:%Y-%m-%d}）",
        )
        for event in application.events.filter(action__in=["approve", "reject"])
    )
    return RegistrationPrintout(
        association_name=association_name,
        program_name=application.program.name,
        session_name=application.session.name if application.session else "",
        application_number=application.number,
        status_label=status_label(rules=rules, status=application.status),
        submitted_at=application.submitted_at,
        person_name=profile.name if profile else application.person.name,
        gender_label=profile.get_gender_display() if profile else "",
        id_number=profile.id_number if profile else application.person.id_number,
        phone=(profile.phone if profile else "") or application.person.phone,
        employer=(
            profile.company.name
            if profile and profile.company_id
            else (profile.company_name if profile else "")
        ),
        fields=tuple(
            PrintedField(label, value)
            for label, value in answer_display(rules=rules, application=application)
        ),
        documents=tuple(labels.get(row.key, row.key) for row in application.documents.all()),
        pledges=tuple(
            PrintedPledge(
                title=row.title,
                version=row.version,
                text=row.text,
                accepted_at=row.accepted_at,
                accepted_by=str(row.accepted_by),
            )
            for row in application.pledges.select_related("accepted_by")
        ),
        photo=photo,
        photo_content_type=photo_type,
        decisions=decisions,
        printed_at=timezone.now(),
    )

"""Applying for a session: the pure rules decide, this module takes the seat under a lock and writes.

Seats are counted on the session row (`seats_taken`), which is locked (SELECT … FOR UPDATE) in the
same transaction that takes the seat, after every other check, so the lock is held for milliseconds
and never across a call to the outside world (STYLE.md, pretix's quota locking).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from registration import rules as engine
from registration.models import RELEASED_STATUSES, Application, ApplicationStatus, Program, TrainingSession
from shared.accounts.models import PersonProfile, User
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import Rules

FIRST_STATUS = {
    "company": ApplicationStatus.COMPANY_REVIEW,
    "institution": ApplicationStatus.INSTITUTION_REVIEW,
    "association": ApplicationStatus.ASSOCIATION_REVIEW,
}


class ApplicationRefused(CodedError):
    """The rules refuse the application; `problems` lists every reason (fields, documents, seats…)."""

    def __init__(self, problems: tuple[engine.Problem, ...]):
        super().__init__(problems[0].code, "；".join(problem.message for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class ApplicantFacts:
    """What the service knows about the person beyond the rules (looked up by the caller or here)."""

    real_name_verified: bool
    has_photo: bool
    is_member: bool = False


def enrolment_key(*, rules: Rules, session: TrainingSession) -> str:
    program_rules = rules.program(session.program.code)
    if program_rules.one_enrolment_per_person:
        return session.program.code
    return f"{session.program.code}:{session.code}"


def _applicant(*, person: User, channel: str, facts: ApplicantFacts, key: str) -> engine.ApplicantSnapshot:
    profile = PersonProfile.objects.filter(user=person).only("company_id").first()
    return engine.ApplicantSnapshot(
        channel=channel,
        belongs_to_company=bool(profile and profile.company_id),
        real_name_verified=facts.real_name_verified,
        is_member=facts.is_member,
        has_photo=facts.has_photo,
        already_enrolled_in_course=Application.objects.filter(person=person, enrolment_key=key)
        .exclude(status__in=RELEASED_STATUSES)
        .exists(),
    )


def application_submit(
    *,
    rules: Rules,
    rules_version: int,
    session_id: int,
    person: User,
    actor: User,
    channel: str,
    submission: engine.Submission,
    facts: ApplicantFacts,
    now: datetime | None = None,
    lock_session: bool = True,
) -> Application:
    """Apply `person` to a session: rules check, then the seat and the row, in one short transaction.

    Raises ApplicationRefused with every problem the rules find (window, seats, channel, fields,
    documents, pledges…) or `already_enrolled` when a concurrent application of the same person won.
    `lock_session=False` exists only for the concurrency test's control; never pass it elsewhere.
    """
    now = now or timezone.now()
    with transaction.atomic():
        session_query = TrainingSession.objects.select_related("program")
        if lock_session:
            session_query = session_query.select_for_update(of=("self",))
        session = session_query.get(pk=session_id)
        key = enrolment_key(rules=rules, session=session)
        decision = engine.evaluate(
            rules=rules,
            program_code=session.program.code,
            applicant=_applicant(person=person, channel=channel, facts=facts, key=key),
            session=engine.SessionSnapshot(
                capacity=session.capacity,
                taken=session.seats_taken,
                opens_at=session.opens_at,
                closes_at=session.closes_at,
                waiting_list=session.waiting_list,
            ),
            submission=submission,
            now=now,
        )
        if not decision.allowed:
            raise ApplicationRefused(decision.problems)
        holds_seat = not decision.waitlisted
        if decision.waitlisted:
            status = ApplicationStatus.WAITLISTED
        elif decision.review_chain:
            status = FIRST_STATUS[decision.review_chain[0]]
        else:
            status = ApplicationStatus.APPROVED
        profile = PersonProfile.objects.filter(user=person).only("company_id").first()
        try:
            with transaction.atomic():
                application = Application.objects.create(
                    session=session,
                    program=session.program,
                    enrolment_key=key,
                    person=person,
                    company_id=profile.company_id if profile else None,
                    channel=channel,
                    status=status,
                    holds_seat=holds_seat,
                    answers=dict(decision.cleaned_answers),
                    with_materials=submission.with_materials,
                    fee_fen=decision.fee_fen,
                    rules_version=rules_version,
                    created_by=actor,
                    submitted_at=now,
                )
        except IntegrityError as error:
            raise ApplicationRefused(
                (engine.Problem("already_enrolled", "同一课程每人只能报名一次（无论单位报名还是个人报名）"),)
            ) from error
        if holds_seat:
            TrainingSession.objects.filter(pk=session.pk).update(seats_taken=F("seats_taken") + 1)
        audit_record(
            actor=actor,
            action="application.submit",
            target=application,
            data={
                "session": session.pk,
                "status": status,
                "rules_version": rules_version,
                "channel": channel,
            },
        )
    return application


@dataclass(frozen=True)
class SessionInput:
    code: str
    name: str
    capacity: int
    opens_at: datetime | None
    closes_at: datetime | None
    unit_code: str = ""
    institution_code: str = ""
    location: str = ""
    fee_fen: int | None = None  # None: the program's price from the rules
    materials_fee_fen: int | None = None
    waiting_list: bool | None = None


class SetupError(CodedError):
    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(code, message)
        self.field = field


def program_create(*, rules: Rules, code: str, actor: User) -> Program:
    """Open a program the rules define (its form, documents, pledges and review chain come from them)."""
    program_rules = next((program for program in rules.programs if program.code == code), None)
    if program_rules is None:
        raise SetupError("program_unknown", "规则中没有这个培训项目，请先在规则配置中添加", "code")
    with transaction.atomic():
        program, created = Program.objects.get_or_create(code=code, defaults={"name": program_rules.name})
        if created:
            audit_record(actor=actor, action="program.create", target=program, data={"code": code})
    return program


def session_create(*, rules: Rules, program: Program, data: SessionInput, actor: User) -> TrainingSession:
    """Add a 期次/班次 to a program. Units and institutions must be the rules' own; prices default to them.

    Raises SetupError naming the field: code_required, code_taken, window_invalid, capacity_invalid,
    unit_unknown, institution_unknown, fee_invalid.
    """
    program_rules = rules.program(program.code)
    code = data.code.strip()
    if not code or not data.name.strip():
        raise SetupError("code_required", "请填写班次编号和名称", "code")
    if data.capacity < 0:
        raise SetupError("capacity_invalid", "计划人数不能为负数（0 表示不限）", "capacity")
    if data.opens_at and data.closes_at and data.closes_at <= data.opens_at:
        raise SetupError("window_invalid", "报名结束时间必须晚于开始时间", "closes_at")
    units = {unit.code for unit in rules.organizations.units}
    if program_rules.unit_codes:
        units &= set(program_rules.unit_codes)
    if data.unit_code and data.unit_code not in units:
        raise SetupError("unit_unknown", "所选分会/地区不开设该项目", "unit_code")
    institutions = {item.code for item in rules.organizations.institutions}
    if data.institution_code and data.institution_code not in institutions:
        raise SetupError("institution_unknown", "规则中没有这个培训机构", "institution_code")
    fee = program_rules.price.fee_fen if data.fee_fen is None else data.fee_fen
    materials = (
        program_rules.price.materials_fee_fen if data.materials_fee_fen is None else data.materials_fee_fen
    )
    if fee < 0 or materials < 0:
        raise SetupError("fee_invalid", "费用不能为负数", "fee_fen")
    try:
        with transaction.atomic():
            session = TrainingSession.objects.create(
                program=program,
                code=code,
                name=data.name.strip(),
                unit_code=data.unit_code,
                institution_code=data.institution_code,
                location=data.location.strip(),
                capacity=data.capacity,
                opens_at=data.opens_at,
                closes_at=data.closes_at,
                fee_fen=fee,
                materials_fee_fen=materials,
                waiting_list=program_rules.waiting_list if data.waiting_list is None else data.waiting_list,
            )
            audit_record(actor=actor, action="session.create", target=session, data={"code": code})
    except IntegrityError as error:
        raise SetupError("code_taken", "该项目已有这个班次编号", "code") from error
    return session

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
from registration.models import RELEASED_STATUSES, Application, ApplicationStatus, TrainingSession
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

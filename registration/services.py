"""Applications (报名): submit, drafts, the review chain, corrections, resubmission, withdrawal, waiting list.

The pure engine (`registration/rules.py`) decides; this module reads what it needs, takes the seat and
writes. Seats are counted on the session row (`seats_taken`), locked (SELECT … FOR UPDATE) in the same
transaction that takes or frees a seat, always *before* the application row, so two transactions never
wait on each other in opposite order; the lock is held for milliseconds and never across a call to the
outside world (STYLE.md, pretix's quota locking).

Every transition follows `APPLICATION_TRANSITIONS`, locks its rows, re-checks the state, writes an
`ApplicationEvent` (what the applicant sees, with the rules version) and an audit entry.
"""

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, F, Value
from django.db.models.constants import OnConflict
from django.db.models.functions import JSONObject
from django.db.models.sql import InsertQuery
from django.utils import timezone

from certificates.models import Certificate
from certificates.selectors import certificate_for_holder_by_number
from membership.models import IN_GOOD_STANDING, Membership
from registration import rules as engine
from registration.models import (
    APPLICATION_TRANSITIONS,
    NOT_ENROLLED_STATUSES,
    REVIEW_STATUSES,
    Application,
    ApplicationDocument,
    ApplicationEvent,
    ApplicationStatus,
    PledgeAcceptance,
    Program,
    TrainingSession,
)
from shared.accounts.models import PersonProfile, User, UserKind
from shared.documents.models import Document, DocumentStatus
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import (
    ChoicesSource,
    PledgeStage,
    ProgramKind,
    ProgramRules,
    Rules,
    Withdrawal,
)


class ApplicationRefused(CodedError):
    """The rules refuse the application; `problems` lists every reason (fields, documents, seats…)."""

    def __init__(self, problems: tuple[engine.Problem, ...]):
        super().__init__(problems[0].code, "；".join(problem.message for problem in problems))
        self.problems = problems


class ApplicationError(CodedError):
    """A transition that is not allowed now (wrong state, not this reviewer's step, policy)."""


@dataclass(frozen=True)
class ApplicantFacts:
    """What the service knows about the person beyond the rules (looked up by `applicant_facts`)."""

    real_name_verified: bool
    has_photo: bool
    is_member: bool = False


ALREADY_ENROLLED = engine.Problem("already_enrolled", engine.ALREADY_ENROLLED_MESSAGE)
CERTIFICATE_NUMBER_FIELD = "certificate_number"
CERTIFICATE_NOT_FOUND = engine.Problem(
    "certificate_not_found", "证书编号不存在或不是本人的证书", CERTIFICATE_NUMBER_FIELD
)
STEP_LABELS = {"company": "单位审核", "institution": "培训机构确认", "association": "协会审核"}


# ---------------------------------------------------------------------------------------------------------
# reading the applicant
# ---------------------------------------------------------------------------------------------------------


def applicant_facts(*, rules: Rules, person: User) -> ApplicantFacts:
    """Real name and photo as the rules count them: where staff confirm photos, only a confirmed one."""
    photo = rules.identity.profile_photo
    has_photo = False
    if photo is not None:
        usable = [DocumentStatus.ACCEPTED]
        if not rules.identity.photo_review_by_staff:
            usable.append(DocumentStatus.UPLOADED)
        has_photo = Document.objects.filter(
            owner=person, key=photo.key, company__isnull=True, superseded_at__isnull=True, status__in=usable
        ).exists()
    return ApplicantFacts(
        real_name_verified=person.real_name_verified_at is not None,
        has_photo=has_photo,
        is_member=rules.membership.enabled
        and Membership.objects.filter(person=person, status__in=IN_GOOD_STANDING).exists(),
    )


def keyed_by_certificate_number(*, rules: Rules, program: ProgramRules) -> bool:
    """Continuing education whose applicant names the certificate being renewed (henan: 按证书编号报名)."""
    return (
        program.kind == ProgramKind.CONTINUING_EDUCATION
        and rules.certificates.continuing_education.keyed_by_certificate_number
    )


def _certificate_named(
    *, rules: Rules, program: ProgramRules, person: User, answers: Mapping[str, object]
) -> tuple[Certificate | None, tuple[engine.Problem, ...]]:
    """The certificate a continuing-education application is for: the `certificate_number` answer must be
    one of the applicant's own, not revoked certificates (expired is fine: renewing it is the point).

    The engine is pure, so this lookup lives here; it runs only for such programs (one indexed read), so
    other programs' statement budget is untouched. A blank answer is left to the engine's field_required
    when the program has the field; without the field the application cannot name a certificate at all.
    """
    if not keyed_by_certificate_number(rules=rules, program=program):
        return None, ()
    number = answers.get(CERTIFICATE_NUMBER_FIELD)
    if not isinstance(number, str) or not number.strip():
        has_field = any(field.key == CERTIFICATE_NUMBER_FIELD for field in program.fields)
        return None, (() if has_field else (CERTIFICATE_NOT_FOUND,))
    certificate = certificate_for_holder_by_number(holder=person, number=number)
    if certificate is None:
        return None, (CERTIFICATE_NOT_FOUND,)
    return certificate, ()


def _is_member(rules: Rules, person: User):
    """As an expression: the person counts as an association member (membership engine's good standing)."""
    if not rules.membership.enabled:
        return Value(False)
    return Exists(Membership.objects.filter(person=person, status__in=IN_GOOD_STANDING))


def _profile_value(profile: PersonProfile, name: str) -> object:
    if name == "company_name":
        return profile.company.name if profile.company_id else profile.company_name
    if name == "phone":
        return profile.phone or (profile.user.phone if profile.user_id else "")
    value = getattr(profile, name, None)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, str) else None


def profile_answers(
    *, program: ProgramRules, person: User, profile: PersonProfile | None = None
) -> dict[str, object]:
    """Answers of the fields linked to a profile attribute, taken from the person's profile (the engine's
    precondition): what the profile says wins over what a form sent. Pass `profile` (with its company)
    when it was already read."""
    if profile is None:
        profile = PersonProfile.objects.select_related("company", "user").filter(user=person).first()
    if profile is None:
        return {}
    answers = {}
    for form_field in program.fields:
        if form_field.profile_field is None:
            continue
        value = _profile_value(profile, form_field.profile_field.value)
        if value not in (None, ""):
            answers[form_field.key] = value
    return answers


def usable_documents(*, program: ProgramRules, person: User) -> dict[str, Document]:
    """The person's current upload for each of the program's documents, unless staff returned it."""
    keys = [document.key for document in program.documents]
    if not keys:
        return {}
    rows = Document.objects.filter(
        owner=person, key__in=keys, company__isnull=True, superseded_at__isnull=True
    ).exclude(status=DocumentStatus.RETURNED)
    return {document.key: document for document in rows}


def _fill(
    *,
    program: ProgramRules,
    person: User,
    session: TrainingSession | None,
    answers: dict,
    profile: PersonProfile | None = None,
) -> dict:
    filled = dict(answers)
    filled.update(profile_answers(program=program, person=person, profile=profile))
    if session is not None:
        for form_field in program.fields:
            if form_field.choices_source == ChoicesSource.SESSIONS:
                filled[form_field.key] = str(session.pk)
    return filled


def enrolment_key(*, rules: Rules, session: TrainingSession) -> str:
    program_rules = rules.program(session.program.code)
    if program_rules.one_enrolment_per_person:
        return session.program.code
    return f"{session.program.code}:{session.code}"


@dataclass(frozen=True)
class _ApplicantRead:
    profile: PersonProfile | None
    snapshot: engine.ApplicantSnapshot
    facts: ApplicantFacts
    documents: dict[str, int]  # document key -> id of the person's usable current upload


def _applicant_read(
    *,
    rules: Rules,
    program: ProgramRules,
    person: User,
    channel: str,
    key: str,
    enrolling_company_id: int | None,
    facts: ApplicantFacts | None,
    excluding: int | None = None,
) -> _ApplicantRead:
    """Everything the engine needs about the person, in one query: the profile with its company, whether
    a live enrolment in the course exists, and (unless the caller knows) whether a usable photo exists."""
    enrolled = Application.objects.filter(person=person, enrolment_key=key).exclude(
        status__in=NOT_ENROLLED_STATUSES
    )
    if excluding is not None:
        enrolled = enrolled.exclude(pk=excluding)
    photo = rules.identity.profile_photo
    if facts is None and photo is not None:
        usable = [DocumentStatus.ACCEPTED]
        if not rules.identity.photo_review_by_staff:
            usable.append(DocumentStatus.UPLOADED)
        has_photo = Exists(
            Document.objects.filter(
                owner=person,
                key=photo.key,
                company__isnull=True,
                superseded_at__isnull=True,
                status__in=usable,
            )
        )
    else:
        has_photo = Value(facts.has_photo if facts else False)
    keys = [document.key for document in program.documents]
    uploads = (
        Document.objects.filter(owner=person, key__in=keys, company__isnull=True, superseded_at__isnull=True)
        .exclude(status=DocumentStatus.RETURNED)
        .values(pair=JSONObject(key="key", id="id"))
    )
    profile = (
        PersonProfile.objects.select_related("company")
        .filter(user=person)
        .annotate(
            enrolled=Exists(enrolled),
            has_photo=has_photo,
            is_member=_is_member(rules, person),
            uploads=ArraySubquery(uploads)
            if keys
            else Value([], output_field=ArrayField(models.JSONField())),
        )
        .first()
    )
    if profile is None:
        already, photo_found, member = enrolled.exists(), False, False
        documents = {
            key: document.pk for key, document in usable_documents(program=program, person=person).items()
        }
    else:
        profile.user = person
        already, photo_found, member = profile.enrolled, profile.has_photo, profile.is_member
        documents = {pair["key"]: pair["id"] for pair in profile.uploads}
    if facts is None:
        facts = ApplicantFacts(
            real_name_verified=person.real_name_verified_at is not None,
            has_photo=photo_found,
            is_member=member,
        )
    company_id = profile.company_id if profile else None
    if channel == "company":
        belongs = company_id is not None and company_id == enrolling_company_id
    else:
        belongs = company_id is not None
    snapshot = engine.ApplicantSnapshot(
        channel=channel,
        belongs_to_company=belongs,
        real_name_verified=facts.real_name_verified,
        is_member=facts.is_member,
        has_photo=facts.has_photo,
        already_enrolled_in_course=already,
    )
    return _ApplicantRead(profile=profile, snapshot=snapshot, facts=facts, documents=documents)


def _actor_label(actor: User | None) -> str:
    if actor is None:
        return "系统"
    if actor.kind == UserKind.COMPANY and actor.company_id:
        return f"单位：{actor.company.name}"
    if actor.kind == UserKind.INSTITUTION:
        return f"培训机构：{actor.name or actor.username}"
    if actor.kind == UserKind.STAFF:
        return f"协会：{actor.name or actor.username}"
    return actor.name or actor.username


def _event(
    *,
    application: Application,
    action: str,
    from_status: str,
    actor: User | None,
    rules_version: int,
    step: str = "",
    reason: str = "",
    changes: dict | None = None,
    now: datetime,
) -> ApplicationEvent:
    event = ApplicationEvent.objects.create(
        application=application,
        action=action,
        step=step,
        from_status=from_status,
        to_status=application.status,
        reason=reason,
        changes=changes or {},
        actor=actor,
        actor_label=_actor_label(actor),
        rules_version=rules_version,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action=f"application.{action}",
        target=application,
        data={
            "from": from_status,
            "to": application.status,
            "step": step,
            "reason": reason,
            "rules_version": rules_version,
            **({"changes": changes} if changes else {}),
        },
    )
    return event


def _check_transition(application: Application, to: str) -> None:
    if to not in APPLICATION_TRANSITIONS[application.status]:
        raise ApplicationError(
            "invalid_state", f"报名当前状态为「{application.get_status_display()}」，不能进行此操作"
        )


def _record_pledges(
    *,
    application: Application,
    program: ProgramRules,
    keys: Iterable[str],
    actor: User,
    now: datetime,
    replace: bool = True,
) -> None:
    accepted = [
        pledge for pledge in program.pledges if pledge.key in keys and pledge.stage == PledgeStage.APPLICATION
    ]
    if not accepted:
        return
    if replace:
        PledgeAcceptance.objects.filter(
            application=application, key__in=[pledge.key for pledge in accepted]
        ).delete()
    PledgeAcceptance.objects.bulk_create(
        PledgeAcceptance(
            application=application,
            key=pledge.key,
            title=pledge.title,
            version=pledge.version,
            text=pledge.text,
            text_sha256=hashlib.sha256(pledge.text.encode()).hexdigest(),
            accepted_by=actor,
            accepted_at=now,
        )
        for pledge in accepted
    )


def _link_documents(*, application: Application, documents: dict[str, int], replace: bool = True) -> None:
    """Link the uploads (key -> document id) sent with the application."""
    if replace:
        ApplicationDocument.objects.filter(application=application).delete()
    if documents:
        ApplicationDocument.objects.bulk_create(
            ApplicationDocument(application=application, key=key, document_id=document_id)
            for key, document_id in documents.items()
        )


def _first_status(review_chain: tuple[str, ...] | list[str]) -> str:
    return REVIEW_STATUSES[review_chain[0]] if review_chain else ApplicationStatus.APPROVED


# ---------------------------------------------------------------------------------------------------------
# submitting
# ---------------------------------------------------------------------------------------------------------


def application_submit(
    *,
    rules: Rules,
    rules_version: int,
    session_id: int,
    person: User,
    actor: User,
    channel: str,
    submission: engine.Submission,
    facts: ApplicantFacts | None = None,
    now: datetime | None = None,
    draft: Application | None = None,
    lock_session: bool = True,
) -> Application:
    """Apply `person` to a session: rules check, then the seat and the row, in one short transaction.

    `actor` is the person, or for `channel="company"` an operator of the company enrolling its person.
    The documents are the person's current uploads (`submission.documents` is replaced by them); answers
    of profile-linked fields come from the profile; application-stage pledges in `submission.pledges`
    are recorded with their text. With `draft`, the person's draft becomes the application.

    Raises ApplicationRefused with every problem the rules find (window, seats, channel, fields,
    documents, pledges…) or `already_enrolled` when a concurrent application of the same person won;
    `session_unknown` when the session does not exist or its program is closed or not in the rules.
    Nothing is written when it raises. Inside a caller's transaction (the API's idempotency record) it
    adds no savepoint: a refusal is decided before anything is written and raised after the block.
    `lock_session=False` exists only for the concurrency test's control; never pass it elsewhere.

    This is the hot path of an enrolment rush; it costs one locked read of the session, one read of the
    applicant, and one statement that inserts the application, takes the seat and stamps the profile.
    """
    now = now or timezone.now()
    enrolling_company_id = actor.company_id if channel == "company" else None
    refusal: tuple[engine.Problem, ...] = ()
    with transaction.atomic(savepoint=False):
        session_query = TrainingSession.objects.select_related("program").filter(program__is_open=True)
        if lock_session:
            session_query = session_query.select_for_update(of=("self",))
        session = session_query.filter(pk=session_id).first()
        program = (
            rules.program(session.program.code)
            if session and rules.has_program(session.program.code)
            else None
        )
        if session is None or program is None:
            refusal = (engine.Problem("session_unknown", "班次不存在或已停止报名"),)
        else:
            application = _submit_locked(
                rules=rules,
                rules_version=rules_version,
                session=session,
                program=program,
                person=person,
                actor=actor,
                channel=channel,
                submission=submission,
                facts=facts,
                enrolling_company_id=enrolling_company_id,
                draft=draft,
                now=now,
            )
            if isinstance(application, tuple):
                refusal, application = application, None
    if refusal:
        raise ApplicationRefused(refusal)
    return application


def _submit_locked(
    *,
    rules: Rules,
    rules_version: int,
    session: TrainingSession,
    program: ProgramRules,
    person: User,
    actor: User,
    channel: str,
    submission: engine.Submission,
    facts: ApplicantFacts | None,
    enrolling_company_id: int | None,
    draft: Application | None,
    now: datetime,
) -> Application | tuple[engine.Problem, ...]:
    """The body of `application_submit` under the session lock: the new application, or the refusal."""
    key = enrolment_key(rules=rules, session=session)
    read = _applicant_read(
        rules=rules,
        program=program,
        person=person,
        channel=channel,
        key=key,
        enrolling_company_id=enrolling_company_id,
        facts=facts,
        excluding=draft.pk if draft else None,
    )
    documents = read.documents
    submission = _completed(submission, program=program, person=person, session=session, read=read)
    decision = engine.evaluate(
        rules=rules,
        program_code=session.program.code,
        applicant=read.snapshot,
        session=_snapshot(session),
        submission=submission,
        now=now,
    )
    certificate, certificate_problems = _certificate_named(
        rules=rules, program=program, person=person, answers=decision.cleaned_answers
    )
    if not decision.allowed or certificate_problems:
        return (*decision.problems, *certificate_problems)
    status = ApplicationStatus.WAITLISTED if decision.waitlisted else _first_status(decision.review_chain)
    fields = {
        "session": session,
        "program": session.program,
        "enrolment_key": key,
        "company_id": read.profile.company_id if read.profile else None,
        "channel": channel,
        "status": status,
        "holds_seat": not decision.waitlisted,
        "answers": dict(decision.cleaned_answers),
        "with_materials": submission.with_materials,
        "fee_fen": _fee(rules=rules, session=session, submission=submission, facts=read.facts),
        "review_chain": list(decision.review_chain),
        "rules_version": rules_version,
        "submitted_at": now,
        "updated_at": now,
        "wizard_step": "",
        "certificate": certificate,
    }
    if draft is not None:
        application = _draft_submit_locked(draft=draft, person=person, fields=fields)
    else:
        application = Application(person=person, created_by=actor, created_at=now, **fields)
        if not _enrol(application=application, now=now):
            application = None
    if application is None:
        return (ALREADY_ENROLLED,)
    _link_documents(application=application, documents=documents, replace=draft is not None)
    _record_pledges(
        application=application,
        program=program,
        keys=submission.pledges.keys(),
        actor=actor,
        now=now,
        replace=draft is not None,
    )
    application.latest_event = _event(
        application=application,
        action="submit",
        from_status=ApplicationStatus.DRAFT if draft else "",
        actor=actor,
        rules_version=rules_version,
        changes={"session": session.pk, "channel": channel},
        now=now,
    )
    return application


_ENROL = """
    WITH inserted AS ({insert} ON CONFLICT DO NOTHING RETURNING {application}.id),
    seat AS (
        UPDATE {session} SET seats_taken = seats_taken + 1
        WHERE id = %s AND %s AND EXISTS (SELECT 1 FROM inserted)
    ),
    first AS (
        UPDATE {profile} SET first_enrolled_at = %s
        WHERE user_id = %s AND first_enrolled_at IS NULL AND EXISTS (SELECT 1 FROM inserted)
    )
    SELECT id FROM inserted
"""


def _completed(
    submission: engine.Submission,
    *,
    program: ProgramRules,
    person: User,
    session: TrainingSession,
    read: "_ApplicantRead",
) -> engine.Submission:
    """What the engine judges: the sent answers with the profile's and the session's filled in, and the
    person's usable uploads as the documents (whatever the caller claimed)."""
    return dataclasses.replace(
        submission,
        answers=_fill(
            program=program,
            person=person,
            session=session,
            answers=dict(submission.answers),
            profile=read.profile,
        ),
        documents=frozenset(read.documents),
    )


def _enrol(*, application: Application, now: datetime) -> bool:
    """Insert the application, take its seat and stamp the person's first enrolment in ONE statement.

    The partial unique index (one live enrolment per person and course) decides a race between two
    sessions of the same course: the loser's insert does nothing (ON CONFLICT DO NOTHING) and so do its
    seat and profile updates. Returns False then. The seat counter's CHECK still guards capacity."""
    query = InsertQuery(Application, on_conflict=OnConflict.IGNORE)
    fields = [field for field in Application._meta.local_concrete_fields if not field.primary_key]
    query.insert_values(fields, [application])
    compiler = query.get_compiler(connection=connection)
    [(insert_sql, insert_params)] = compiler.as_sql()
    # as_sql() already ends with the conflict clause for IGNORE; keep only the INSERT … VALUES part.
    insert_sql = insert_sql.removesuffix(" ON CONFLICT DO NOTHING")
    quote = connection.ops.quote_name
    sql = _ENROL.format(
        insert=insert_sql,
        application=quote(Application._meta.db_table),
        session=quote(TrainingSession._meta.db_table),
        profile=quote(PersonProfile._meta.db_table),
    )
    params = [*insert_params, application.session_id, application.holds_seat, now, application.person_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    application.pk = row[0]
    application._state.adding = False
    return True


def _draft_submit_locked(*, draft: Application, person: User, fields: dict) -> Application | None:
    """A wizard draft becomes the application (rare path: a savepoint guards the unique constraint)."""
    try:
        with transaction.atomic():
            application = Application.objects.select_for_update().get(
                pk=draft.pk, person=person, status=ApplicationStatus.DRAFT
            )
            _check_transition(application, fields["status"])
            for name, value in fields.items():
                setattr(application, name, value)
            application.save()
    except IntegrityError:
        return None
    if application.holds_seat:
        TrainingSession.objects.filter(pk=application.session_id).update(seats_taken=F("seats_taken") + 1)
    PersonProfile.objects.filter(user=person, first_enrolled_at__isnull=True).update(
        first_enrolled_at=fields["submitted_at"]
    )
    return application


def _decide(
    *,
    rules: Rules,
    session: TrainingSession,
    applicant: engine.ApplicantSnapshot,
    submission: engine.Submission,
    now: datetime,
    person: User | None = None,
) -> tuple[engine.Decision, Certificate | None]:
    """The engine's decision, plus the certificate a continuing-education application names (`person`
    given); raises ApplicationRefused with the problems of both."""
    decision = engine.evaluate(
        rules=rules,
        program_code=session.program.code,
        applicant=applicant,
        session=_snapshot(session),
        submission=submission,
        now=now,
    )
    certificate, certificate_problems = (
        _certificate_named(
            rules=rules,
            program=rules.program(session.program.code),
            person=person,
            answers=decision.cleaned_answers,
        )
        if person is not None
        else (None, ())
    )
    if not decision.allowed or certificate_problems:
        raise ApplicationRefused((*decision.problems, *certificate_problems))
    return decision, certificate


def _fee(
    *, rules: Rules, session: TrainingSession, submission: engine.Submission, facts: ApplicantFacts
) -> int:
    """The engine's fee with the session's own prices (staff may price a session apart from the rules)."""
    price = rules.program(session.program.code).price.model_copy(
        update={"fee_fen": session.fee_fen, "materials_fee_fen": session.materials_fee_fen}
    )
    return engine.fee_for(
        price=price,
        membership=rules.membership,
        with_materials=submission.with_materials,
        is_member=facts.is_member,
    )


@dataclass(frozen=True)
class BulkResult:
    person_id: int
    person_name: str
    application: Application | None
    problems: tuple[engine.Problem, ...]


def application_enrol_bulk(
    *,
    rules: Rules,
    rules_version: int,
    session_id: int,
    person_ids: Iterable[int],
    actor: User,
    submission: engine.Submission,
) -> list[BulkResult]:
    """A company enrols several of its people into one session with the same answers (shipping address…).

    Each person is enrolled in their own transaction (the seat lock is taken per person), so one person
    refused — already enrolled, no photo, no seat — never undoes the others; every refusal is reported.
    People who are not the company's own are refused by the rules (`company_required`).
    """
    if actor.kind != UserKind.COMPANY or actor.company_id is None:
        raise ApplicationError("forbidden", "只有单位账户可以为人员报名")
    people = User.objects.filter(pk__in=list(person_ids), kind=UserKind.PERSON).select_related("profile")
    results = []
    for person in people:
        name = getattr(getattr(person, "profile", None), "name", "") or person.name
        try:
            application = application_submit(
                rules=rules,
                rules_version=rules_version,
                session_id=session_id,
                person=person,
                actor=actor,
                channel="company",
                submission=submission,
            )
        except ApplicationRefused as refused:
            results.append(BulkResult(person.pk, name, None, refused.problems))
        else:
            results.append(BulkResult(person.pk, name, application, ()))
    return results


# ---------------------------------------------------------------------------------------------------------
# drafts (the henan wizard)
# ---------------------------------------------------------------------------------------------------------


def application_draft_save(
    *,
    rules: Rules,
    rules_version: int,
    program: Program,
    person: User,
    step_key: str,
    answers: dict[str, object],
    pledges: dict[str, str],
    now: datetime | None = None,
) -> Application:
    """Save one wizard step into the person's draft of `program` (created on the first step).

    The step's own fields, documents (current uploads) and pledges must pass the rules; the draft then
    remembers the answers, records the pledges accepted in this step and points at the next step, so the
    person can leave and resume there. Raises ApplicationRefused with the step's problems (nothing
    saved), ApplicationError("no_wizard") when the program has no such step.
    """
    now = now or timezone.now()
    program_rules = rules.program(program.code)
    keys = [step.key for step in program_rules.wizard_steps]
    if step_key not in keys:
        raise ApplicationError("no_wizard", "没有这个报名步骤")
    with transaction.atomic():
        draft = _draft_locked(program=program, person=person, rules_version=rules_version, now=now)
        merged = {**draft.answers, **answers}
        merged = _fill(program=program_rules, person=person, session=None, answers=merged)
        accepted = {row.key: str(row.version) for row in draft.pledges.all()}
        accepted.update(pledges)
        documents = usable_documents(program=program_rules, person=person)
        problems = engine.step_problems(
            rules=rules,
            program_code=program.code,
            step_key=step_key,
            answers=merged,
            documents=frozenset(documents),
            pledges=accepted,
        )
        step = program_rules.wizard_steps[keys.index(step_key)]
        if not problems and CERTIFICATE_NUMBER_FIELD in step.fields:
            _, problems = _certificate_named(
                rules=rules, program=program_rules, person=person, answers=merged
            )
        if problems:
            raise ApplicationRefused(problems)
        cleaned, _ = engine.clean_answers(rules=rules, program_code=program.code, answers=merged)
        draft.answers = dict(cleaned)
        position = keys.index(step_key)
        draft.wizard_step = keys[min(position + 1, len(keys) - 1)]
        draft.updated_at = now
        draft.save(update_fields=["answers", "wizard_step", "updated_at"])
        _record_pledges(application=draft, program=program_rules, keys=pledges.keys(), actor=person, now=now)
    return draft


def _draft_locked(*, program: Program, person: User, rules_version: int, now: datetime) -> Application:
    draft = (
        Application.objects.select_for_update()
        .filter(program=program, person=person, status=ApplicationStatus.DRAFT)
        .first()
    )
    if draft is not None:
        return draft
    try:
        with transaction.atomic():
            return Application.objects.create(
                program=program,
                person=person,
                enrolment_key=program.code,
                channel="self",
                status=ApplicationStatus.DRAFT,
                rules_version=rules_version,
                created_by=person,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        # A concurrent first step created it: take that one.
        return Application.objects.select_for_update().get(
            program=program, person=person, status=ApplicationStatus.DRAFT
        )


def session_for_draft(*, rules: Rules, draft: Application, now: datetime | None = None) -> TrainingSession:
    """The session a wizard draft applies to, from its answers: a chosen session, else the open session of
    the chosen institution (and unit), the one closing first that still has seats.

    Raises ApplicationRefused("no_session") when none is open.
    """
    now = now or timezone.now()
    program = rules.program(draft.program.code)
    sessions = TrainingSession.objects.filter(program=draft.program).select_related("program")
    for form_field in program.fields:
        value = draft.answers.get(form_field.key)
        if not isinstance(value, str) or not value:
            continue
        if form_field.choices_source == ChoicesSource.SESSIONS and value.isdigit():
            return sessions.get(pk=int(value))
        if form_field.choices_source == ChoicesSource.INSTITUTIONS:
            sessions = sessions.filter(institution_code=value)
        if form_field.choices_source == ChoicesSource.UNITS:
            sessions = sessions.filter(unit_code__in=[value, ""])
    open_sessions = [
        session
        for session in sessions.order_by("closes_at", "pk")
        if not engine.window_problems(_snapshot(session), now)
    ]
    with_seats = [s for s in open_sessions if not engine.session_is_full(_snapshot(s)) or s.waiting_list]
    if not with_seats:
        raise ApplicationRefused(
            (engine.Problem("no_session", "所选培训机构目前没有正在报名且有名额的班次，请选择其他培训机构"),)
        )
    return with_seats[0]


def _snapshot(session: TrainingSession) -> engine.SessionSnapshot:
    return engine.SessionSnapshot(
        capacity=session.capacity,
        taken=session.seats_taken,
        opens_at=session.opens_at,
        closes_at=session.closes_at,
        waiting_list=session.waiting_list,
    )


def application_draft_submit(
    *, rules: Rules, rules_version: int, draft: Application, person: User, now: datetime | None = None
) -> Application:
    """Submit the person's wizard draft: the whole application is checked again by the rules."""
    if draft.person_id != person.pk or draft.status != ApplicationStatus.DRAFT:
        raise ApplicationError("invalid_state", "草稿不存在或已提交")
    session = session_for_draft(rules=rules, draft=draft, now=now)
    pledges = {row.key: str(row.version) for row in draft.pledges.all()}
    return application_submit(
        rules=rules,
        rules_version=rules_version,
        session_id=session.pk,
        person=person,
        actor=person,
        channel="self",
        submission=engine.Submission(
            answers=draft.answers, documents=frozenset(), pledges=pledges, with_materials=draft.with_materials
        ),
        now=now,
        draft=draft,
    )


# ---------------------------------------------------------------------------------------------------------
# seats: release and the waiting list
# ---------------------------------------------------------------------------------------------------------


def _lock_session_then_application(application_id: int) -> tuple[TrainingSession | None, Application]:
    """Locks in the fixed order (session, then application) every seat-changing transaction uses."""
    session_id = Application.objects.filter(pk=application_id).values_list("session_id", flat=True).first()
    session = None
    if session_id is not None:
        session = TrainingSession.objects.select_for_update().get(pk=session_id)
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("program", "session", "company")
        .get(pk=application_id)
    )
    return session, application


def _release_seat(
    *, session: TrainingSession | None, application: Application, rules_version: int, now: datetime
) -> None:
    """Give back the application's seat and promote the first person waiting (in order of submission)."""
    if session is None or not application.holds_seat:
        return
    application.holds_seat = False
    TrainingSession.objects.filter(pk=session.pk).update(seats_taken=F("seats_taken") - 1)
    _promote_into_free_seats(
        session=session,
        rules_version=rules_version,
        now=now,
        reason="候补转正：有名额释放",
        excluding=application.pk,
    )


# ---------------------------------------------------------------------------------------------------------
# the review chain
# ---------------------------------------------------------------------------------------------------------


def current_step(application: Application) -> str | None:
    for step, status in REVIEW_STATUSES.items():
        if application.status == status:
            return step
    return None


def may_review(*, actor: User, application: Application, step: str) -> bool:
    """Company operators review their own company's people, an institution its own sessions, reviewers
    and admins of the association the association step."""
    if not actor.is_active:
        return False
    if step == "company":
        return (
            actor.kind == UserKind.COMPANY
            and actor.company_id is not None
            and (actor.company_id == application.company_id)
        )
    if step == "institution":
        return (
            actor.kind == UserKind.INSTITUTION
            and bool(actor.institution_code)
            and application.session is not None
            and actor.institution_code == application.session.institution_code
        )
    if step == "association":
        return actor.has_staff_role("reviewer") or actor.has_staff_role("admin")
    return False


def application_review(
    *,
    rules_version: int,
    application_id: int,
    actor: User,
    approve: bool,
    reason: str = "",
    now: datetime | None = None,
) -> Application:
    """One reviewer decision on the application's current step: approve (next step, or approved) or reject
    with a reason (the seat is released; the applicant may correct and resubmit).

    Raises ApplicationError: `forbidden` (not this actor's step or company), `invalid_state` (not waiting
    for a review), `reason_required` (rejecting without a reason).
    """
    now = now or timezone.now()
    reason = reason.strip()
    if not approve and not reason:
        raise ApplicationError("reason_required", "请填写不通过的原因")
    with transaction.atomic():
        session, application = _lock_session_then_application(application_id)
        step = current_step(application)
        if step is None:
            raise ApplicationError("invalid_state", "该报名不在审核中")
        if not may_review(actor=actor, application=application, step=step):
            raise ApplicationError("forbidden", "您无权审核该报名")
        from_status = application.status
        if approve:
            chain = list(application.review_chain)
            following = chain[chain.index(step) + 1 :] if step in chain else []
            application.status = _first_status(following)
            application.rejection_reason = ""
        else:
            application.status = ApplicationStatus.REJECTED
            application.rejection_reason = reason[:200]
            _release_seat(session=session, application=application, rules_version=rules_version, now=now)
        _check_transition_from(from_status, application.status)
        application.decided_at = now
        application.updated_at = now
        application.save(
            update_fields=["status", "rejection_reason", "holds_seat", "decided_at", "updated_at"]
        )
        _event(
            application=application,
            action="approve" if approve else "reject",
            step=step,
            from_status=from_status,
            actor=actor,
            rules_version=rules_version,
            reason=reason,
            now=now,
        )
    return application


def _check_transition_from(from_status: str, to: str) -> None:
    if to not in APPLICATION_TRANSITIONS[from_status]:
        raise ApplicationError("invalid_state", "该报名当前状态不能进行此操作")


@dataclass(frozen=True)
class ReviewOutcome:
    application_id: int
    ok: bool
    code: str
    message: str


def application_review_bulk(
    *,
    rules_version: int,
    application_ids: Iterable[int],
    actor: User,
    approve: bool,
    reason: str = "",
) -> list[ReviewOutcome]:
    """The same decision on many applications, each in its own transaction; every outcome is reported."""
    outcomes = []
    for application_id in dict.fromkeys(application_ids):
        try:
            application_review(
                rules_version=rules_version,
                application_id=application_id,
                actor=actor,
                approve=approve,
                reason=reason,
            )
        except Application.DoesNotExist:
            outcomes.append(ReviewOutcome(application_id, False, "not_found", "报名不存在"))
        except ApplicationError as error:
            outcomes.append(ReviewOutcome(application_id, False, error.code, error.message))
        else:
            outcomes.append(ReviewOutcome(application_id, True, "ok", "已通过" if approve else "已退回"))
    return outcomes


def application_correct(
    *,
    rules: Rules,
    rules_version: int,
    application_id: int,
    actor: User,
    answers: dict[str, object],
    with_materials: bool | None = None,
    now: datetime | None = None,
) -> Application:
    """The company corrects an application's data during its review (sichuan: 修改资料) instead of
    rejecting it. The corrected answers pass the same form rules; the old and new values are recorded.

    Raises ApplicationError (`forbidden`, `invalid_state`, `edit_not_allowed`) or ApplicationRefused
    with the field problems.
    """
    now = now or timezone.now()
    with transaction.atomic():
        session, application = _lock_session_then_application(application_id)
        program = rules.program(application.program.code)
        if current_step(application) != "company":
            raise ApplicationError("invalid_state", "只能在单位审核环节修改报名资料")
        if not may_review(actor=actor, application=application, step="company"):
            raise ApplicationError("forbidden", "您无权修改该报名")
        if not program.company_may_edit:
            raise ApplicationError("edit_not_allowed", "该项目不允许单位修改报名资料")
        merged = _fill(
            program=program,
            person=application.person,
            session=session,
            answers={**application.answers, **answers},
        )
        cleaned, problems = engine.clean_answers(rules=rules, program_code=program.code, answers=merged)
        if with_materials is None:
            with_materials = application.with_materials
        problems += engine.materials_problems(program.price, with_materials)
        certificate, certificate_problems = _certificate_named(
            rules=rules, program=program, person=application.person, answers=cleaned
        )
        problems += certificate_problems
        if problems:
            raise ApplicationRefused(tuple(problems))
        changes = {
            key: [application.answers.get(key), cleaned.get(key)]
            for key in dict.fromkeys([*application.answers, *cleaned])
            if application.answers.get(key) != cleaned.get(key)
        }
        if with_materials != application.with_materials:
            changes["with_materials"] = [application.with_materials, with_materials]
        if not changes:
            return application
        application.answers = dict(cleaned)
        application.with_materials = with_materials
        application.certificate = certificate
        submission = engine.Submission(
            answers=cleaned, documents=frozenset(), pledges={}, with_materials=with_materials
        )
        is_member = applicant_facts(rules=rules, person=application.person).is_member
        application.fee_fen = _fee(
            rules=rules,
            session=session,
            submission=submission,
            facts=ApplicantFacts(real_name_verified=True, has_photo=True, is_member=is_member),
        )
        application.updated_at = now
        application.save(update_fields=["answers", "with_materials", "fee_fen", "certificate", "updated_at"])
        _event(
            application=application,
            action="correct",
            step="company",
            from_status=application.status,
            actor=actor,
            rules_version=rules_version,
            changes=changes,
            now=now,
        )
    return application


# ---------------------------------------------------------------------------------------------------------
# the applicant: resubmit, withdraw
# ---------------------------------------------------------------------------------------------------------


def application_resubmit(
    *,
    rules: Rules,
    rules_version: int,
    application_id: int,
    person: User,
    submission: engine.Submission,
    now: datetime | None = None,
) -> Application:
    """After a rejection the applicant corrects and sends the application again: it is checked by the
    rules like a new one (window, seat, fields, documents, pledges) and re-enters the first review step.

    Raises ApplicationError (`forbidden`, `invalid_state`, `resubmit_not_allowed`) or ApplicationRefused.
    """
    now = now or timezone.now()
    facts = applicant_facts(rules=rules, person=person)
    with transaction.atomic():
        session, application = _lock_session_then_application(application_id)
        if application.person_id != person.pk:
            raise ApplicationError("forbidden", "只能修改本人的报名")
        program = rules.program(application.program.code)
        if application.status != ApplicationStatus.REJECTED:
            raise ApplicationError("invalid_state", "只有审核不通过的报名可以修改后重新提交")
        if not program.resubmit_after_rejection:
            raise ApplicationError("resubmit_not_allowed", "该项目审核不通过后不能重新提交")
        read = _applicant_read(
            rules=rules,
            program=program,
            person=person,
            channel=application.channel,
            key=application.enrolment_key,
            enrolling_company_id=application.company_id,
            facts=facts,
            excluding=application.pk,
        )
        documents = read.documents
        submission = _completed(submission, program=program, person=person, session=session, read=read)
        decision, certificate = _decide(
            rules=rules,
            session=session,
            applicant=read.snapshot,
            submission=submission,
            now=now,
            person=person,
        )
        from_status = application.status
        application.status = (
            ApplicationStatus.WAITLISTED if decision.waitlisted else _first_status(decision.review_chain)
        )
        application.holds_seat = not decision.waitlisted
        application.answers = dict(decision.cleaned_answers)
        application.with_materials = submission.with_materials
        application.fee_fen = _fee(rules=rules, session=session, submission=submission, facts=facts)
        application.review_chain = list(decision.review_chain)
        application.rules_version = rules_version
        application.rejection_reason = ""
        application.certificate = certificate
        application.submitted_at = now
        application.updated_at = now
        application.save()
        if application.holds_seat:
            TrainingSession.objects.filter(pk=session.pk).update(seats_taken=F("seats_taken") + 1)
        _link_documents(application=application, documents=documents)
        _record_pledges(
            application=application, program=program, keys=submission.pledges.keys(), actor=person, now=now
        )
        _event(
            application=application,
            action="resubmit",
            from_status=from_status,
            actor=person,
            rules_version=rules_version,
            now=now,
        )
    return application


def withdrawal_allowed(*, program: ProgramRules, application: Application) -> bool:
    """Whether the applicant may still withdraw (delete) the application under the program's rules."""
    status = application.status
    if status == ApplicationStatus.DRAFT:
        return True
    if status not in APPLICATION_TRANSITIONS or "withdrawn" not in APPLICATION_TRANSITIONS[status]:
        return False
    if program.withdrawal == Withdrawal.NEVER:
        return False
    if program.withdrawal == Withdrawal.BEFORE_PAYMENT:
        return True
    # before_first_review: nobody has decided yet (a rejection counts as undecided again).
    if status in (ApplicationStatus.WAITLISTED, ApplicationStatus.REJECTED):
        return True
    chain = application.review_chain
    return bool(chain) and status == REVIEW_STATUSES[chain[0]]


def application_withdraw(
    *, rules: Rules, rules_version: int, application_id: int, person: User, now: datetime | None = None
) -> Application:
    """The applicant withdraws (deletes) the application while the rules allow it; its seat is released
    and the first person waiting is promoted. A withdrawn application is kept, out of the enrolment.

    Raises ApplicationError (`forbidden`, `withdrawal_not_allowed`). Withdrawing twice is a no-op.
    """
    now = now or timezone.now()
    with transaction.atomic():
        session, application = _lock_session_then_application(application_id)
        if application.person_id != person.pk:
            raise ApplicationError("forbidden", "只能撤回本人的报名")
        if application.status == ApplicationStatus.WITHDRAWN:
            return application
        program = rules.program(application.program.code)
        if not withdrawal_allowed(program=program, application=application):
            raise ApplicationError("withdrawal_not_allowed", "该报名已进入审核或缴费环节，不能撤回")
        from_status = application.status
        application.status = ApplicationStatus.WITHDRAWN
        _release_seat(session=session, application=application, rules_version=rules_version, now=now)
        application.updated_at = now
        application.save(update_fields=["status", "holds_seat", "updated_at"])
        _event(
            application=application,
            action="withdraw",
            from_status=from_status,
            actor=person,
            rules_version=rules_version,
            now=now,
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
    course_type: str = ""
    activity_type: str = ""
    major: str = ""
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
                course_type=data.course_type.strip(),
                activity_type=data.activity_type.strip(),
                major=data.major.strip(),
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


@dataclass(frozen=True)
class SessionChanges:
    name: str
    capacity: int
    opens_at: datetime | None
    closes_at: datetime | None
    location: str = ""
    course_type: str = ""
    activity_type: str = ""
    major: str = ""


def session_update(
    *, session_id: int, data: SessionChanges, actor: User, rules_version: int, now: datetime | None = None
) -> TrainingSession:
    """Staff change a session's name, seats, window or class-list columns. More seats promote people from
    the waiting list, in order; fewer seats than are already taken are refused (nobody loses a seat).

    Raises SetupError: code_required, capacity_invalid, capacity_below_taken, window_invalid.
    """
    now = now or timezone.now()
    if not data.name.strip():
        raise SetupError("code_required", "请填写班次名称", "name")
    if data.capacity < 0:
        raise SetupError("capacity_invalid", "计划人数不能为负数（0 表示不限）", "capacity")
    if data.opens_at and data.closes_at and data.closes_at <= data.opens_at:
        raise SetupError("window_invalid", "报名结束时间必须晚于开始时间", "closes_at")
    with transaction.atomic():
        session = TrainingSession.objects.select_for_update().get(pk=session_id)
        if data.capacity and data.capacity < session.seats_taken:
            raise SetupError(
                "capacity_below_taken",
                f"已有 {session.seats_taken} 人占用名额，计划人数不能少于此数",
                "capacity",
            )
        before = {
            name: getattr(session, name)
            for name in (
                "name",
                "capacity",
                "opens_at",
                "closes_at",
                "location",
                "course_type",
                "activity_type",
                "major",
            )
        }
        for name in before:
            value = getattr(data, name)
            setattr(session, name, value.strip() if isinstance(value, str) else value)
        session.save(update_fields=list(before))
        changed = {
            name: [str(old), str(getattr(session, name))]
            for name, old in before.items()
            if old != getattr(session, name)
        }
        audit_record(actor=actor, action="session.update", target=session, data=changed)
        _promote_into_free_seats(
            session=session, rules_version=rules_version, now=now, reason="候补转正：班次增加了名额"
        )
    return session


def _promote_into_free_seats(
    *, session: TrainingSession, rules_version: int, now: datetime, reason: str, excluding: int | None = None
) -> None:
    """Move people from the waiting list into seats, in order of submission, while there are free ones.
    The caller holds the session row's lock."""
    session.refresh_from_db(fields=["seats_taken", "capacity"])
    waiting = (
        Application.objects.select_for_update()
        .filter(session=session, status=ApplicationStatus.WAITLISTED)
        .exclude(pk=excluding)
    )
    free = None if session.capacity == 0 else session.capacity - session.seats_taken
    for application in waiting.order_by("submitted_at", "pk")[:free]:
        from_status = application.status
        application.status = _first_status(application.review_chain)
        application.holds_seat = True
        application.updated_at = now
        application.save(update_fields=["status", "holds_seat", "updated_at"])
        TrainingSession.objects.filter(pk=session.pk).update(seats_taken=F("seats_taken") + 1)
        _event(
            application=application,
            action="promote",
            from_status=from_status,
            actor=None,
            rules_version=rules_version,
            reason=reason,
            now=now,
        )


def applications_expire_waiting(*, rules_version: int, now: datetime | None = None) -> int:
    """The waiting list ends with the enrolment window: people still waiting when a session closes are
    told so (expired, with a reason). Idempotent; returns how many expired."""
    now = now or timezone.now()
    expired = 0
    for application_id in Application.objects.filter(
        status=ApplicationStatus.WAITLISTED, session__closes_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            _, application = _lock_session_then_application(application_id)
            if application.status != ApplicationStatus.WAITLISTED:
                continue
            application.status = ApplicationStatus.EXPIRED
            application.updated_at = now
            application.save(update_fields=["status", "updated_at"])
            _event(
                application=application,
                action="expire",
                from_status=ApplicationStatus.WAITLISTED,
                actor=None,
                rules_version=rules_version,
                reason="报名已截止，候补未能转正",
                now=now,
            )
            expired += 1
    return expired


def applications_mark_paid(
    *, application_ids: Iterable[int], rules_version: int, actor: User | None, now: datetime | None = None
) -> int:
    """Billing confirmed the payment of these applications: approved → paid. Idempotent (already paid
    is skipped); returns how many moved. Called inside the payment's transaction, after its row locks."""
    now = now or timezone.now()
    moved = 0
    for application in (
        Application.objects.select_for_update().filter(pk__in=list(application_ids)).order_by("pk")
    ):
        if application.status != ApplicationStatus.APPROVED:
            continue
        application.status = ApplicationStatus.PAID
        application.updated_at = now
        application.save(update_fields=["status", "updated_at"])
        _event(
            application=application,
            action="pay",
            from_status=ApplicationStatus.APPROVED,
            actor=actor,
            rules_version=rules_version,
            now=now,
        )
        moved += 1
    return moved

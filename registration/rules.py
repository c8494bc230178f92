"""The registration decision engine: may this person apply to this session, and on what terms?

Pure (STYLE.md "Pure rules are separate from I/O"): plain values and the tenant's typed `Rules` in, one
`Decision` out. No Django, no database and no clock — the caller passes `now` — so every combination of
rules is tested with parametrized cases in milliseconds (tests/unit/test_registration_rules.py).

Everything is derived from the rules' fields, never from a tenant's name. The engine reports every problem
it finds, not just the first, in this stable order:

1. the session: `window_not_open`, `window_closed`, `session_full`;
2. the applicant: `channel_not_allowed`, `company_required`, `already_enrolled`, `real_name_required`,
   `members_only`, `photo_required`;
3. the form, field by field in the program's order: `field_required`, `field_type_invalid`,
   `field_choice_invalid`; then `materials_choice_required`;
4. the documents in the program's order: `document_required`;
5. the application-stage pledges in the program's order: `pledge_required`, `pledge_version_outdated`.

What the engine leaves to the service (it needs the database):
- options of a choice field with `choices_source = "sessions"`: any non-empty value is accepted here; the
  service checks it names an open session of the program. Options from `units` and `institutions` live in
  the rules, so they are checked here (an institution must also belong to the city chosen in the nearest
  earlier units field);
- whether each uploaded document passed its `DocumentSpec` checks: `Submission.documents` holds only the
  keys of uploads that are usable (see shared/documents/checks.py);
- taking the seat under a lock: `session.taken` is read under that lock (registration/services.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from tenant_configs.schema import (
    ChoicesSource,
    DocumentSpec,
    EnrolmentChannel,
    FieldType,
    FormField,
    MaterialsPolicy,
    MembershipRules,
    MembersTrainingPrice,
    PledgeStage,
    ProgramPrice,
    ProgramRules,
    RealNameVerification,
    Rules,
    UnitKind,
)

__all__ = [
    "PROBLEM_CODES",
    "ApplicantSnapshot",
    "Decision",
    "Problem",
    "SessionSnapshot",
    "Submission",
    "evaluate",
    "fee_for",
]

PROBLEM_CODES: tuple[str, ...] = (
    "window_not_open",
    "window_closed",
    "session_full",
    "channel_not_allowed",
    "company_required",
    "already_enrolled",
    "real_name_required",
    "members_only",
    "photo_required",
    "field_required",
    "field_type_invalid",
    "field_choice_invalid",
    "materials_choice_required",
    "document_required",
    "pledge_required",
    "pledge_version_outdated",
)
"""Every code `evaluate` can report, in the order it reports them (fields interleave their three codes)."""

# The same words as registration/services.py uses when the database's unique constraint wins a race, so a
# person sees one message whichever check caught the second enrolment.
ALREADY_ENROLLED_MESSAGE = "同一课程每人只能报名一次（无论单位报名还是个人报名）"

MATERIALS_FIELD = "with_materials"
"""`Problem.field` of `materials_choice_required`: the name of the materials choice in forms and the API."""


# ---------------------------------------------------------------------------------------------------------
# inputs and output
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicantSnapshot:
    """What the service knows about the person being enrolled, looked up before calling `evaluate`."""

    channel: Literal["self", "company"]  # the person applies, or their company enrols them
    belongs_to_company: bool  # has an approved company (for the company channel: the enrolling one)
    real_name_verified: bool
    is_member: bool  # active association member (or however the membership rules count one)
    has_photo: bool  # an accepted/current ID photo exists
    already_enrolled_in_course: bool  # any live application for this program's course


@dataclass(frozen=True)
class SessionSnapshot:
    """The session (期次/班次) as read under its row lock."""

    capacity: int  # 0 = unlimited
    taken: int  # seats already held
    opens_at: datetime | None  # None = open since forever
    closes_at: datetime | None  # None = never closes
    waiting_list: bool


@dataclass(frozen=True)
class Submission:
    """What the applicant (or their company) sent: answers, usable uploads, accepted pledges, materials."""

    answers: Mapping[str, object]  # form field key -> raw value from the form/API (str, list[str], bool…)
    documents: frozenset[str]  # document keys uploaded and usable
    pledges: Mapping[str, str]  # pledge key -> version the person accepted
    with_materials: bool | None  # the materials choice where the price policy asks for one


@dataclass(frozen=True)
class Problem:
    """One reason to refuse. `field` names the input it belongs to: a form field key, a document key (or
    the key of the `file` field that uploads it), a pledge key or "with_materials"; None for problems about
    the session or the applicant."""

    code: str  # stable English, one of PROBLEM_CODES
    message: str  # specific Simplified Chinese, naming the field / document / pledge by its label
    field: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool  # no problems
    problems: tuple[Problem, ...]
    waitlisted: bool  # the session is full and keeps a waiting list (reported whatever the other problems)
    review_chain: tuple[str, ...]  # the steps this application goes through (empty = auto-approved)
    fee_fen: int  # price for this applicant (materials, members' price), computed even when refused
    cleaned_answers: Mapping[str, object]  # normalised values of the shown, answered, valid fields


# ---------------------------------------------------------------------------------------------------------
# the decision
# ---------------------------------------------------------------------------------------------------------


def evaluate(
    *,
    rules: Rules,
    program_code: str,
    applicant: ApplicantSnapshot,
    session: SessionSnapshot,
    submission: Submission,
    now: datetime,
) -> Decision:
    """Decide one application of `applicant` to `session` of the program `program_code`.

    Preconditions: `program_code` is one of `rules.programs` (else KeyError); `now`, `session.opens_at` and
    `session.closes_at` are all timezone-aware (or all naive); answers of fields with a `profile_field`
    were already filled from the person's profile by the caller. Never raises for bad input: every
    problem is a `Problem` in the decision.
    """
    program = rules.program(program_code)
    full = session_is_full(session)
    form = _clean_form(rules, program, submission.answers)
    problems = (
        *window_problems(session, now),
        *([_session_full()] if full and not session.waiting_list else []),
        *applicant_problems(rules, program, applicant),
        *form.problems,
        *materials_problems(program.price, submission.with_materials),
        *document_problems(program, form.shown, submission.documents),
        *pledge_problems(program, submission.pledges),
    )
    return Decision(
        allowed=not problems,
        problems=problems,
        waitlisted=full and session.waiting_list,
        review_chain=tuple(str(step.value) for step in program.review_chain),
        fee_fen=fee_for(
            price=program.price,
            membership=rules.membership,
            with_materials=submission.with_materials,
            is_member=applicant.is_member,
        ),
        cleaned_answers=form.cleaned,
    )


# ---------------------------------------------------------------------------------------------------------
# the session: window and seats
# ---------------------------------------------------------------------------------------------------------


def window_problems(session: SessionSnapshot, now: datetime) -> tuple[Problem, ...]:
    """The enrolment window is half-open: open from `opens_at` inclusive until `closes_at` exclusive, so at
    exactly `closes_at` it is closed. A missing bound does not limit that side."""
    if session.opens_at is not None and now < session.opens_at:
        return (Problem("window_not_open", "报名尚未开始，请在报名开始后再报名"),)
    if session.closes_at is not None and now >= session.closes_at:
        return (Problem("window_closed", "报名已截止"),)
    return ()


def session_is_full(session: SessionSnapshot) -> bool:
    """Full when every seat is held (`taken >= capacity`); a capacity of 0 means unlimited."""
    return session.capacity > 0 and session.taken >= session.capacity


def _session_full() -> Problem:
    return Problem("session_full", "该班次名额已满")


# ---------------------------------------------------------------------------------------------------------
# the applicant
# ---------------------------------------------------------------------------------------------------------

CHANNELS_ALLOWED: dict[EnrolmentChannel, frozenset[str]] = {
    EnrolmentChannel.COMPANY_ONLY: frozenset({"company"}),
    EnrolmentChannel.SELF_ONLY: frozenset({"self"}),
    EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION: frozenset({"self"}),
    EnrolmentChannel.BOTH: frozenset({"self", "company"}),
}

_CHANNEL_REFUSALS: dict[EnrolmentChannel, str] = {
    EnrolmentChannel.COMPANY_ONLY: "「{program}」只能由所在单位统一报名，个人不能自行报名",
    EnrolmentChannel.SELF_ONLY: "「{program}」只能由本人报名，单位不能代为报名",
    EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION: "「{program}」须由本人报名、所在单位确认，单位不能代为报名",
}


def applicant_problems(
    rules: Rules, program: ProgramRules, applicant: ApplicantSnapshot
) -> tuple[Problem, ...]:
    """Who may apply: channel, company, one enrolment per person, real name, membership, photo."""
    checks = (
        _channel_problem(program, applicant),
        _company_problem(rules, program, applicant),
        _already_enrolled_problem(program, applicant),
        _real_name_problem(rules, program, applicant),
        _members_only_problem(program, applicant),
        _photo_problem(rules, program, applicant),
    )
    return tuple(problem for problem in checks if problem is not None)


def _channel_problem(program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    return channel_problem(program, applicant.channel)


def channel_problem(program: ProgramRules, channel: str) -> Problem | None:
    """Why `channel` ("self" or "company") may not apply to the program, or None when it may."""
    if channel in CHANNELS_ALLOWED[program.channel]:
        return None
    return Problem("channel_not_allowed", _CHANNEL_REFUSALS[program.channel].format(program=program.name))


def company_required(rules: Rules, program: ProgramRules, applicant: ApplicantSnapshot) -> bool:
    """A company is needed when the organizations rules say so, when the company confirms the person's own
    application (self_with_company_confirmation), or when a company enrols the person (its own people only)."""
    return (
        rules.organizations.person_must_belong_to_company
        or program.channel == EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION
        or applicant.channel == "company"
    )


def _company_problem(rules: Rules, program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    if applicant.belongs_to_company or not company_required(rules, program, applicant):
        return None
    if applicant.channel == "company":
        return Problem("company_required", "单位只能为本单位人员报名，该人员尚未加入本单位")
    return Problem("company_required", f"报名「{program.name}」须先加入所在单位，经单位审核通过后再报名")


def _already_enrolled_problem(program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    if program.one_enrolment_per_person and applicant.already_enrolled_in_course:
        return Problem("already_enrolled", ALREADY_ENROLLED_MESSAGE)
    return None


def real_name_required(rules: Rules, program: ProgramRules) -> bool:
    return (
        program.requires_real_name
        or rules.identity.real_name_verification == RealNameVerification.REQUIRED_BEFORE_ENROLMENT
    )


def _real_name_problem(rules: Rules, program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    if applicant.real_name_verified or not real_name_required(rules, program):
        return None
    return Problem("real_name_required", "报名前须先完成实名认证")


def _members_only_problem(program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    if not program.members_only or applicant.is_member:
        return None
    return Problem("members_only", f"「{program.name}」仅限会员报名")


def _photo_problem(rules: Rules, program: ProgramRules, applicant: ApplicantSnapshot) -> Problem | None:
    if not program.requires_photo or applicant.has_photo:
        return None
    photo = rules.identity.profile_photo
    label = photo.label if photo is not None and photo.label else "证件照"
    return Problem("photo_required", f"报名前须先上传{label}")


# ---------------------------------------------------------------------------------------------------------
# the form
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Form:
    cleaned: dict[str, object]
    problems: tuple[Problem, ...]
    shown: frozenset[str]  # keys of the fields shown (including file fields and unanswered ones)


class _Invalid(Exception):
    """A raw value a field cannot take; carries the problem to report."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _clean_form(rules: Rules, program: ProgramRules, answers: Mapping[str, object]) -> _Form:
    """Walk the fields in order. A field is shown unless its `shown_if` condition fails on the cleaned
    value of the earlier field it names (a hidden or invalid earlier field hides it too). Hidden fields are
    neither required nor kept; unknown answer keys are dropped; `file` fields are carried by
    `Submission.documents`, not by answers (see `document_problems`)."""
    cleaned: dict[str, object] = {}
    problems: list[Problem] = []
    shown: set[str] = set()
    for form_field in program.fields:
        if not _is_shown(program, form_field, cleaned):
            continue
        shown.add(form_field.key)
        if form_field.type == FieldType.FILE:
            continue
        raw = answers.get(form_field.key)
        if _is_blank(raw):
            if form_field.required:
                problems.append(_field_required(form_field))
            continue
        try:
            cleaned[form_field.key] = _clean_value(rules, program, form_field, raw, cleaned)
        except _Invalid as invalid:
            problems.append(invalid.problem)
    return _Form(cleaned=cleaned, problems=tuple(problems), shown=frozenset(shown))


def _is_shown(program: ProgramRules, form_field: FormField, cleaned: Mapping[str, object]) -> bool:
    condition = form_field.shown_if
    if condition is None:
        return True
    if condition.field not in cleaned:
        return False
    target = program.field(condition.field)
    value = cleaned[condition.field]
    if target.type == FieldType.YES_NO:
        return ("yes" if value else "no") == condition.equals
    if target.type == FieldType.MULTI_CHOICE:
        return isinstance(value, list) and condition.equals in value
    return value == condition.equals


def _is_blank(raw: object) -> bool:
    """Not answered: None, blank text, an empty list or an address with only blank parts. False and 0 are
    answers."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple, set, frozenset)):
        return all(_is_blank(item) for item in raw)
    if isinstance(raw, Mapping):
        return all(_is_blank(item) for item in raw.values())
    return False


_CHOSEN_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE, FieldType.YES_NO})


def _field_required(form_field: FormField) -> Problem:
    verb = "请选择" if form_field.type in _CHOSEN_TYPES else "请填写"
    return Problem("field_required", f"{verb}{form_field.label}", form_field.key)


def _type_invalid(form_field: FormField, expected: str) -> _Invalid:
    return _Invalid(Problem("field_type_invalid", f"{form_field.label}{expected}", form_field.key))


def _clean_value(
    rules: Rules, program: ProgramRules, form_field: FormField, raw: object, earlier: Mapping[str, object]
) -> object:
    """The normalised value of a non-blank answer, or `_Invalid`. Values are JSON-ready: text is stripped,
    choices are strings, multi-choices a list in the options' order, dates ISO `YYYY-MM-DD`, yes/no a
    bool, numbers an int (or a float when not whole)."""
    if form_field.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        options = choice_options(rules, program, form_field, earlier)
        if form_field.type == FieldType.CHOICE:
            return _clean_choice(form_field, raw, options)
        return _clean_multi_choice(form_field, raw, options)
    return _CLEANERS[form_field.type](form_field, raw)


def _clean_text(form_field: FormField, raw: object) -> str:
    if not isinstance(raw, str):
        raise _type_invalid(form_field, "须为文字")
    return raw.strip()


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MOBILE = re.compile(r"(\+86|0086)?1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?")


def _clean_email(form_field: FormField, raw: object) -> str:
    text = _clean_text(form_field, raw)
    if not _EMAIL.fullmatch(text):
        raise _type_invalid(form_field, "格式不正确，请填写如 name@example.com 的电子邮箱")
    return text


def _clean_phone(form_field: FormField, raw: object) -> str:
    """A mainland mobile number (+86 allowed) or a landline with area code; spaces and dashes between
    groups of a mobile number are removed."""
    text = _clean_text(form_field, raw).replace(" ", "")
    compact = text.replace("-", "")
    if _MOBILE.fullmatch(compact):
        return compact.removeprefix("+86").removeprefix("0086")
    if _LANDLINE.fullmatch(text):
        return text
    raise _type_invalid(form_field, "格式不正确，请填写11位手机号或带区号的固定电话")


def _clean_address(form_field: FormField, raw: object) -> str | dict[str, str]:
    """One line of text, or its parts (province, city, detail…) as a mapping of texts."""
    if isinstance(raw, Mapping):
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in raw.items()):
            raise _type_invalid(form_field, "须为文字")
        return {key: value.strip() for key, value in raw.items() if value.strip()}
    return _clean_text(form_field, raw)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _clean_date(form_field: FormField, raw: object) -> str:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw.isoformat()
    text = raw.strip() if isinstance(raw, str) else ""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise _type_invalid(form_field, "须为有效日期，格式如 2025-01-31")


YES_NO_ANSWERS: dict[str, bool] = {
    "是": True,
    "否": False,
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
}
"""Spellings of a yes/no answer (English ones case-insensitive); a JSON bool is taken as is."""


def _clean_yes_no(form_field: FormField, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in YES_NO_ANSWERS:
        return YES_NO_ANSWERS[raw.strip().lower()]
    raise _type_invalid(form_field, "须选择“是”或“否”")


def _clean_number(form_field: FormField, raw: object) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _type_invalid(form_field, "须为数字")
    try:
        number = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise _type_invalid(form_field, "须为数字") from None
    if not number.is_finite() or not math.isfinite(float(number)):
        raise _type_invalid(form_field, "须为数字")
    return int(number) if number == number.to_integral_value() else float(number)


_CLEANERS = {
    FieldType.TEXT: _clean_text,
    FieldType.LONG_TEXT: _clean_text,
    FieldType.EMAIL: _clean_email,
    FieldType.PHONE: _clean_phone,
    FieldType.ADDRESS: _clean_address,
    FieldType.DATE: _clean_date,
    FieldType.YES_NO: _clean_yes_no,
    FieldType.NUMBER: _clean_number,
}


def choice_options(
    rules: Rules, program: ProgramRules, form_field: FormField, earlier: Mapping[str, object]
) -> tuple[str, ...] | None:
    """The values a choice field accepts, or None when only the database knows them (sessions).

    Units are those opening the program (`unit_codes`, or all). Institutions are those of the city chosen
    in the nearest earlier units field, when there is one and it names a city; otherwise all of them."""
    source = form_field.choices_source
    if source == ChoicesSource.INLINE:
        return tuple(choice.value for choice in form_field.choices)
    if source == ChoicesSource.UNITS:
        return program.unit_codes or tuple(unit.code for unit in rules.organizations.units)
    if source == ChoicesSource.INSTITUTIONS:
        city = _chosen_city(rules, program, form_field, earlier)
        institutions = rules.organizations.institutions
        return tuple(item.code for item in institutions if city is None or item.city_code == city)
    return None


def _chosen_city(
    rules: Rules, program: ProgramRules, form_field: FormField, earlier: Mapping[str, object]
) -> str | None:
    cities = {unit.code for unit in rules.organizations.units if unit.kind == UnitKind.CITY}
    position = program.fields.index(form_field)
    for candidate in reversed(program.fields[:position]):
        if candidate.choices_source == ChoicesSource.UNITS and candidate.type == FieldType.CHOICE:
            value = earlier.get(candidate.key)
            return value if isinstance(value, str) and value in cities else None
    return None


def _choice_text(form_field: FormField, raw: object, options: tuple[str, ...] | None) -> str:
    """A single option as text; ids from the database (sessions) may arrive as integers."""
    if isinstance(raw, str):
        return raw.strip()
    if options is None and isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    raise _type_invalid(form_field, "的取值格式不正确，请从选项中选择")


def _choice_invalid(form_field: FormField, values: Sequence[str]) -> _Invalid:
    shown = "、".join(f"「{value}」" for value in values)
    message = f"{form_field.label}不能选择{shown}，请从选项中选择"
    return _Invalid(Problem("field_choice_invalid", message, form_field.key))


def _clean_choice(form_field: FormField, raw: object, options: tuple[str, ...] | None) -> str:
    value = _choice_text(form_field, raw, options)
    if options is not None and value not in options:
        raise _choice_invalid(form_field, [value])
    return value


def _clean_multi_choice(form_field: FormField, raw: object, options: tuple[str, ...] | None) -> list[str]:
    """A list of options (a single text counts as a list of one); duplicates are removed."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)):
        raise _type_invalid(form_field, "的取值格式不正确，请从选项中选择")
    values = [_choice_text(form_field, item, options) for item in items if not _is_blank(item)]
    if options is None:
        return list(dict.fromkeys(values))
    unknown = [value for value in dict.fromkeys(values) if value not in options]
    if unknown:
        raise _choice_invalid(form_field, unknown)
    return [option for option in options if option in values]


# ---------------------------------------------------------------------------------------------------------
# materials, documents, pledges
# ---------------------------------------------------------------------------------------------------------


def materials_problems(price: ProgramPrice, with_materials: bool | None) -> tuple[Problem, ...]:
    """Only an optional materials policy asks the applicant to choose; otherwise the choice is ignored."""
    if price.materials_policy == MaterialsPolicy.OPTIONAL and with_materials is None:
        return (Problem("materials_choice_required", "请选择是否购买培训资料", MATERIALS_FIELD),)
    return ()


def document_required(program: ProgramRules, document: DocumentSpec, shown: frozenset[str]) -> bool:
    """A document is required when its spec says so or a shown, required `file` field uploads it — unless
    every `file` field that uploads it is hidden (`shown_if`)."""
    uploading = [f for f in program.fields if f.type == FieldType.FILE and f.document == document.key]
    shown_uploading = [f for f in uploading if f.key in shown]
    if uploading and not shown_uploading:
        return False
    return document.required or any(f.required for f in shown_uploading)


def document_problems(
    program: ProgramRules, shown: frozenset[str], documents: frozenset[str]
) -> tuple[Problem, ...]:
    problems = []
    for document in program.documents:
        if document.key in documents or not document_required(program, document, shown):
            continue
        problems.append(
            Problem("document_required", f"请上传{document.label}", _document_input(program, document, shown))
        )
    return tuple(problems)


def _document_input(program: ProgramRules, document: DocumentSpec, shown: frozenset[str]) -> str:
    for form_field in program.fields:
        if (
            form_field.type == FieldType.FILE
            and form_field.document == document.key
            and form_field.key in shown
        ):
            return form_field.key
    return document.key


def pledge_problems(program: ProgramRules, accepted: Mapping[str, str]) -> tuple[Problem, ...]:
    """Every application-stage pledge (whoever signs it) must be accepted in its current version.
    Payment-stage pledges are accepted by the payer on the payment page, not here."""
    problems = []
    for pledge in program.pledges:
        if pledge.stage != PledgeStage.APPLICATION:
            continue
        version = accepted.get(pledge.key)
        if version is None or str(version).strip() == "":
            problems.append(Problem("pledge_required", f"请阅读并同意《{pledge.title}》", pledge.key))
        elif str(version).strip() != str(pledge.version):
            message = f"《{pledge.title}》已更新为第 {pledge.version} 版，请重新阅读并同意"
            problems.append(Problem("pledge_version_outdated", message, pledge.key))
    return tuple(problems)


# ---------------------------------------------------------------------------------------------------------
# the fee
# ---------------------------------------------------------------------------------------------------------


def fee_for(
    *, price: ProgramPrice, membership: MembershipRules, with_materials: bool | None, is_member: bool
) -> int:
    """The fee in fen: the training fee, plus the materials fee when materials are required or chosen,
    then the members' training price for a member (free, or a percentage rounded half up to the fen)
    applied to that total. Membership rules that are disabled always say `full`."""
    total = price.fee_fen
    if price.materials_policy == MaterialsPolicy.REQUIRED_SHIPPED or (
        price.materials_policy == MaterialsPolicy.OPTIONAL and with_materials
    ):
        total += price.materials_fee_fen
    if not is_member or membership.members_training_price == MembersTrainingPrice.FULL:
        return total
    if membership.members_training_price == MembersTrainingPrice.FREE:
        return 0
    return (total * membership.members_training_percent + 50) // 100


# ---------------------------------------------------------------------------------------------------------
# parts of the decision, for edits and wizard steps
# ---------------------------------------------------------------------------------------------------------


def clean_answers(
    *, rules: Rules, program_code: str, answers: Mapping[str, object]
) -> tuple[Mapping[str, object], tuple[Problem, ...]]:
    """The form alone: cleaned answers and the field problems (a company correcting an application's data,
    a wizard step). Same rules as `evaluate`."""
    form = _clean_form(rules, rules.program(program_code), answers)
    return form.cleaned, form.problems


def step_problems(
    *,
    rules: Rules,
    program_code: str,
    step_key: str,
    answers: Mapping[str, object],
    documents: frozenset[str],
    pledges: Mapping[str, str],
) -> tuple[Problem, ...]:
    """What stops the applicant from leaving one wizard step: problems of the step's own fields (given the
    answers so far, so `shown_if` and institution-by-city work), its documents and its pledges. Unknown
    step keys raise KeyError."""
    program = rules.program(program_code)
    step = next((step for step in program.wizard_steps if step.key == step_key), None)
    if step is None:
        raise KeyError(step_key)
    form = _clean_form(rules, program, answers)
    field_keys = set(step.fields)
    problems = [problem for problem in form.problems if problem.field in field_keys]
    document_keys = set(step.documents)
    problems += [
        problem
        for problem in document_problems(program, form.shown, documents)
        if problem.field in document_keys
        or any(f.key == problem.field and f.document in document_keys for f in program.fields)
    ]
    for document in program.documents:
        # A step that exists to upload a document always needs it, even when the spec calls it optional.
        if document.key in document_keys and document.key not in documents:
            if not any(problem.field == document.key for problem in problems):
                problems.append(Problem("document_required", f"请上传{document.label}", document.key))
    pledge_keys = set(step.pledges)
    problems += [problem for problem in pledge_problems(program, pledges) if problem.field in pledge_keys]
    return tuple(problems)

"""The registration decision engine (`registration.rules.evaluate`): every program of the five association
files accepts a well-formed application, and every refusal is one exact `Problem`.

Pure: the rules files are loaded once, no database, no Django settings, no clock (`NOW` is passed in).
"""

import ast
import dataclasses
import functools
import re
from datetime import datetime, timedelta
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest

from registration import rules as engine
from registration.rules import (
    PROBLEM_CODES,
    ApplicantSnapshot,
    Decision,
    Problem,
    SessionSnapshot,
    Submission,
    evaluate,
    fee_for,
)
from tenant_configs.loader import load_rules_file, load_rules_text
from tenant_configs.schema import (
    ChoicesSource,
    EnrolmentChannel,
    FieldCondition,
    FieldType,
    FormField,
    MaterialsPolicy,
    MembersTrainingPrice,
    PledgeStage,
    ProgramRules,
    RealNameVerification,
    ReviewStep,
    Rules,
)

RULES_DIR = Path(__file__).resolve().parents[2] / "tenant_configs"
TENANTS = ["sichuan", "miniapp", "henan", "gansu", "shanghai"]
NOW = datetime(2025, 12, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
OPENS_AT = NOW - timedelta(days=3)
CLOSES_AT = NOW + timedelta(days=7)


@functools.cache
def rules_of(tenant: str) -> Rules:
    return load_rules_file(RULES_DIR / f"{tenant}.toml")


PROGRAMS = [(tenant, program.code) for tenant in TENANTS for program in rules_of(tenant).programs]

# What each program's well-formed application goes through and costs (fen), read off the rules files.
HAPPY_EXPECTED: dict[tuple[str, str], tuple[tuple[str, ...], int]] = {
    ("sichuan", "jianli_2022"): (("company",), 80000 + 12000),  # materials chosen
    ("miniapp", "jianli_yewu"): (("association",), 98000),  # materials included (required_shipped, 0 fen)
    ("henan", "new_certificate"): (("institution", "association"), 0),
    ("henan", "continuing_education"): (("institution",), 0),
    ("gansu", "jianli_yewu"): (("association",), 0),  # members train free
    ("gansu", "anquan_jianli"): (("association",), 0),
    ("shanghai", "zhuanxiang"): ((), 150000),  # no review: auto-approved
}


# ---------------------------------------------------------------------------------------------------------
# building a well-formed application from a program's own rules
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    rules: Rules
    program_code: str
    applicant: ApplicantSnapshot
    session: SessionSnapshot
    submission: Submission
    now: datetime = NOW

    def evaluate(self) -> Decision:
        return evaluate(
            rules=self.rules,
            program_code=self.program_code,
            applicant=self.applicant,
            session=self.session,
            submission=self.submission,
            now=self.now,
        )

    @property
    def program(self) -> ProgramRules:
        return self.rules.program(self.program_code)

    def with_applicant(self, **changes: object) -> "Case":
        return dataclasses.replace(self, applicant=dataclasses.replace(self.applicant, **changes))

    def with_session(self, **changes: object) -> "Case":
        return dataclasses.replace(self, session=dataclasses.replace(self.session, **changes))

    def with_submission(self, **changes: object) -> "Case":
        return dataclasses.replace(self, submission=dataclasses.replace(self.submission, **changes))

    def with_answers(self, **answers: object) -> "Case":
        """Change answers; a value of None removes the answer."""
        merged = {**self.submission.answers, **answers}
        return self.with_submission(
            answers={key: value for key, value in merged.items() if value is not None}
        )

    def with_program(self, **changes: object) -> "Case":
        """The same rules with this program changed (not re-validated: keep the change consistent)."""
        program = self.program.model_copy(update=changes)
        programs = tuple(program if p.code == self.program_code else p for p in self.rules.programs)
        return dataclasses.replace(self, rules=self.rules.model_copy(update={"programs": programs}))


def valid_answer(
    rules: Rules, program: ProgramRules, form_field: FormField, answers: dict[str, object]
) -> object:
    """A valid raw answer as a form would send it: the first option, today's date, "是"…; None for files."""
    if form_field.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        value = first_option(rules, program, form_field, answers)
        return [value] if form_field.type == FieldType.MULTI_CHOICE else value
    return {
        FieldType.TEXT: "测试",
        FieldType.LONG_TEXT: "2015-2025 某监理公司 监理员",
        FieldType.DATE: NOW.date().isoformat(),
        FieldType.ADDRESS: "上海市黄浦区人民路1号",
        FieldType.FILE: None,
        FieldType.YES_NO: "是",
        FieldType.NUMBER: "3",
        FieldType.EMAIL: "zhangsan@example.com",
        FieldType.PHONE: "13800138000",
    }[form_field.type]


def first_option(
    rules: Rules, program: ProgramRules, form_field: FormField, answers: dict[str, object]
) -> str:
    organizations = rules.organizations
    if form_field.choices_source == ChoicesSource.INLINE:
        return form_field.choices[0].value
    if form_field.choices_source == ChoicesSource.UNITS:
        return (program.unit_codes or tuple(unit.code for unit in organizations.units))[0]
    if form_field.choices_source == ChoicesSource.INSTITUTIONS:
        cities = [f.key for f in program.fields if f.choices_source == ChoicesSource.UNITS]
        city = answers.get(cities[0]) if cities else None
        return next(i.code for i in organizations.institutions if city is None or i.city_code == city)
    return "session-2025-12"


def happy(tenant: str, program_code: str) -> Case:
    rules = rules_of(tenant)
    program = rules.program(program_code)
    answers: dict[str, object] = {}
    for form_field in program.fields:
        value = valid_answer(rules, program, form_field, answers)
        if value is not None:
            answers[form_field.key] = value
    return Case(
        rules=rules,
        program_code=program_code,
        applicant=ApplicantSnapshot(
            channel="company" if program.channel == EnrolmentChannel.COMPANY_ONLY else "self",
            belongs_to_company=True,
            real_name_verified=True,
            is_member=program.members_only,
            has_photo=True,
            already_enrolled_in_course=False,
        ),
        session=SessionSnapshot(
            capacity=30, taken=10, opens_at=OPENS_AT, closes_at=CLOSES_AT, waiting_list=False
        ),
        submission=Submission(
            answers=answers,
            documents=frozenset(document.key for document in program.documents),
            pledges={
                pledge.key: str(pledge.version)
                for pledge in program.pledges
                if pledge.stage == PledgeStage.APPLICATION
            },
            with_materials=True if program.price.materials_policy == MaterialsPolicy.OPTIONAL else None,
        ),
    )


def problems_of(case: Case) -> tuple[Problem, ...]:
    decision = case.evaluate()
    assert decision.allowed is (decision.problems == ())
    return decision.problems


# ---------------------------------------------------------------------------------------------------------
# every program of every association
# ---------------------------------------------------------------------------------------------------------


def test_the_expectations_cover_every_program_of_the_five_files() -> None:
    assert set(PROGRAMS) == set(HAPPY_EXPECTED)


@pytest.mark.parametrize(("tenant", "program_code"), PROGRAMS)
def test_a_well_formed_application_is_allowed(tenant: str, program_code: str) -> None:
    decision = happy(tenant, program_code).evaluate()

    review_chain, fee_fen = HAPPY_EXPECTED[(tenant, program_code)]
    assert decision.problems == ()
    assert decision.allowed is True
    assert decision.waitlisted is False
    assert decision.review_chain == review_chain
    assert decision.fee_fen == fee_fen


@pytest.mark.parametrize(("tenant", "program_code"), PROGRAMS)
def test_cleaned_answers_hold_the_answered_fields_and_no_file_field(tenant: str, program_code: str) -> None:
    case = happy(tenant, program_code)

    cleaned = case.evaluate().cleaned_answers

    unconditional = {f.key for f in case.program.fields if f.shown_if is None and f.type != FieldType.FILE}
    conditional = {f.key for f in case.program.fields if f.shown_if is not None}
    assert unconditional <= set(cleaned) <= unconditional | conditional


def test_cleaned_answers_are_normalised() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(major="  工业与民用建筑 ", professional_title="")

    assert case.evaluate().cleaned_answers == {"education": "secondary", "major": "工业与民用建筑"}


def test_the_engine_imports_neither_django_nor_the_database() -> None:
    tree = ast.parse(Path(engine.__file__).read_text(encoding="utf-8"))
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }

    assert not {name for name in imported if name.split(".")[0] in {"django", "registration", "shared"}}


# ---------------------------------------------------------------------------------------------------------
# one test per problem code, exact values
# ---------------------------------------------------------------------------------------------------------


def test_window_not_open() -> None:
    case = dataclasses.replace(happy("sichuan", "jianli_2022"), now=OPENS_AT - timedelta(seconds=1))

    assert problems_of(case) == (Problem("window_not_open", "报名尚未开始，请在报名开始后再报名"),)


def test_window_closed() -> None:
    case = dataclasses.replace(happy("sichuan", "jianli_2022"), now=CLOSES_AT)

    assert problems_of(case) == (Problem("window_closed", "报名已截止"),)


def test_session_full() -> None:
    decision = happy("shanghai", "zhuanxiang").with_session(capacity=30, taken=30).evaluate()

    assert decision.problems == (Problem("session_full", "该班次名额已满"),)
    assert decision.waitlisted is False


def test_channel_not_allowed() -> None:
    case = happy("gansu", "jianli_yewu").with_applicant(channel="self")

    assert problems_of(case) == (
        Problem("channel_not_allowed", "「监理业务培训」只能由所在单位统一报名，个人不能自行报名"),
    )


def test_company_required_by_the_channel_and_the_organizations_rules() -> None:
    case = happy("sichuan", "jianli_2022").with_applicant(belongs_to_company=False)

    assert problems_of(case) == (
        Problem(
            "company_required",
            "报名「2022年四川省工程监理人员职业培训」须先加入所在单位，经单位审核通过后再报名",
        ),
    )


def test_company_required_when_a_company_enrols_someone_not_its_own() -> None:
    case = happy("shanghai", "zhuanxiang").with_applicant(channel="company", belongs_to_company=False)

    assert problems_of(case) == (
        Problem("company_required", "单位只能为本单位人员报名，该人员尚未加入本单位"),
    )


def test_already_enrolled() -> None:
    case = happy("shanghai", "zhuanxiang").with_applicant(channel="company", already_enrolled_in_course=True)

    assert problems_of(case) == (
        Problem("already_enrolled", "同一课程每人只能报名一次（无论单位报名还是个人报名）"),
    )


def test_enrolling_again_is_allowed_where_the_program_permits_more_than_one_enrolment() -> None:
    # miniapp: a retake is a new application in a later session (one_enrolment_per_person = false).
    case = happy("miniapp", "jianli_yewu").with_applicant(already_enrolled_in_course=True)

    assert problems_of(case) == ()


def test_real_name_required() -> None:
    case = happy("sichuan", "jianli_2022").with_applicant(real_name_verified=False)

    assert problems_of(case) == (Problem("real_name_required", "报名前须先完成实名认证"),)


def test_real_name_required_by_the_identity_rules_alone() -> None:
    case = happy("sichuan", "jianli_2022").with_program(requires_real_name=False)
    assert case.rules.identity.real_name_verification == RealNameVerification.REQUIRED_BEFORE_ENROLMENT

    assert [p.code for p in problems_of(case.with_applicant(real_name_verified=False))] == [
        "real_name_required"
    ]


def test_real_name_not_asked_where_no_rule_requires_it() -> None:
    case = happy("miniapp", "jianli_yewu").with_applicant(real_name_verified=False)

    assert problems_of(case) == ()


def test_members_only() -> None:
    case = happy("gansu", "jianli_yewu").with_applicant(is_member=False)

    assert problems_of(case) == (Problem("members_only", "「监理业务培训」仅限会员报名"),)


@pytest.mark.parametrize(
    ("tenant", "program_code", "message"),
    [
        ("henan", "new_certificate", "报名前须先上传个人证件照"),
        ("shanghai", "zhuanxiang", "报名前须先上传1寸证件照"),
    ],
)
def test_photo_required(tenant: str, program_code: str, message: str) -> None:
    case = happy(tenant, program_code).with_applicant(has_photo=False)

    assert problems_of(case) == (Problem("photo_required", message),)


def test_photo_not_asked_where_the_program_does_not_require_it() -> None:
    assert problems_of(happy("sichuan", "jianli_2022").with_applicant(has_photo=False)) == ()


def test_field_required() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(major="   ", education=None)

    assert problems_of(case) == (
        Problem("field_required", "请选择学历", "education"),
        Problem("field_required", "请填写所学专业", "major"),
    )


def test_an_optional_field_may_stay_empty() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(professional_title=None)

    assert problems_of(case) == ()


def test_field_choice_invalid() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(education="phd")

    assert problems_of(case) == (
        Problem("field_choice_invalid", "学历不能选择「phd」，请从选项中选择", "education"),
    )


def test_field_type_invalid() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(major=["土木工程"])

    assert problems_of(case) == (Problem("field_type_invalid", "所学专业须为文字", "major"),)


def test_document_required() -> None:
    case = happy("sichuan", "jianli_2022").with_submission(documents=frozenset({"id_card"}))

    assert problems_of(case) == (Problem("document_required", "请上传毕业证书", "diploma"),)


def test_document_required_through_a_file_field() -> None:
    case = happy("miniapp", "jianli_yewu").with_submission(documents=frozenset({"education_proof", "photo"}))

    assert problems_of(case) == (
        Problem("document_required", "请上传参加监理工作满一年的单位证明", "work_proof"),
    )


def test_pledge_required_only_at_the_application_stage() -> None:
    # sichuan also has two payment-stage pledges (委托培训协议, 企业承诺书): the payer accepts them later.
    case = happy("sichuan", "jianli_2022").with_submission(pledges={})

    assert problems_of(case) == (Problem("pledge_required", "请阅读并同意《个人承诺书》", "personal_pledge"),)


def test_pledge_version_outdated() -> None:
    sichuan = happy("sichuan", "jianli_2022")
    pledges = tuple(
        p.model_copy(update={"version": 2}) if p.key == "personal_pledge" else p
        for p in sichuan.program.pledges
    )
    case = sichuan.with_program(pledges=pledges)  # the pledge text was revised; the person accepted version 1

    assert case.submission.pledges == {"personal_pledge": "1"}
    assert problems_of(case) == (
        Problem(
            "pledge_version_outdated", "《个人承诺书》已更新为第 2 版，请重新阅读并同意", "personal_pledge"
        ),
    )
    assert problems_of(case.with_submission(pledges={"personal_pledge": "2"})) == ()


def test_every_application_stage_pledge_of_a_wizard_is_required() -> None:
    case = happy("henan", "new_certificate").with_submission(pledges={"personal_pledge": "1"})

    assert problems_of(case) == (
        Problem(
            "pledge_required",
            "请阅读并同意《住房和城乡建设领域施工现场专业人员培训报名证明事项告知承诺制告知书》",
            "notice",
        ),
    )


def test_materials_choice_required() -> None:
    decision = happy("sichuan", "jianli_2022").with_submission(with_materials=None).evaluate()

    assert decision.problems == (
        Problem("materials_choice_required", "请选择是否购买培训资料", "with_materials"),
    )
    assert decision.fee_fen == 80000


def test_every_problem_is_reported_in_a_stable_order() -> None:
    case = (
        dataclasses.replace(happy("sichuan", "jianli_2022"), now=CLOSES_AT + timedelta(days=1))
        .with_session(taken=30)
        .with_applicant(
            channel="company",
            belongs_to_company=False,
            already_enrolled_in_course=True,
            real_name_verified=False,
        )
        .with_answers(education="phd", major=None)
        .with_submission(documents=frozenset(), pledges={"personal_pledge": "0"}, with_materials=None)
    )

    codes = [problem.code for problem in problems_of(case)]

    assert codes == [
        "window_closed",
        "session_full",
        "channel_not_allowed",
        "company_required",
        "already_enrolled",
        "real_name_required",
        "field_choice_invalid",
        "field_required",
        "materials_choice_required",
        "document_required",
        "document_required",
        "pledge_version_outdated",
    ]


def test_every_problem_code_is_covered_above() -> None:
    source = Path(__file__).read_text(encoding="utf-8")

    assert [code for code in PROBLEM_CODES if not re.search(rf'Problem\(\s*"{code}"', source)] == []


# ---------------------------------------------------------------------------------------------------------
# channels
# ---------------------------------------------------------------------------------------------------------

CHANNEL_REFUSED = {
    ("company_only", "self"): "「勘察设计行业专项培训」只能由所在单位统一报名，个人不能自行报名",
    ("self_only", "company"): "「勘察设计行业专项培训」只能由本人报名，单位不能代为报名",
    (
        "self_with_company_confirmation",
        "company",
    ): "「勘察设计行业专项培训」须由本人报名、所在单位确认，单位不能代为报名",
}


def shanghai_with_channel(channel: EnrolmentChannel) -> Case:
    review_chain = (ReviewStep.COMPANY,) if channel == EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION else ()
    return happy("shanghai", "zhuanxiang").with_program(channel=channel, review_chain=review_chain)


@pytest.mark.parametrize("channel", list(EnrolmentChannel))
@pytest.mark.parametrize("applicant_channel", ["self", "company"])
def test_channel_matrix(channel: EnrolmentChannel, applicant_channel: str) -> None:
    case = shanghai_with_channel(channel).with_applicant(channel=applicant_channel)

    refusal = CHANNEL_REFUSED.get((channel.value, applicant_channel))
    expected = () if refusal is None else (Problem("channel_not_allowed", refusal),)
    assert problems_of(case) == expected


@pytest.mark.parametrize(
    ("channel", "applicant_channel", "company_needed"),
    [
        (EnrolmentChannel.SELF_ONLY, "self", False),
        (EnrolmentChannel.BOTH, "self", False),
        (EnrolmentChannel.BOTH, "company", True),
        (EnrolmentChannel.COMPANY_ONLY, "company", True),
        (EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION, "self", True),
    ],
)
def test_channel_and_company_matrix(
    channel: EnrolmentChannel, applicant_channel: str, company_needed: bool
) -> None:
    # shanghai's organizations rules do not require a company: only the channel can.
    case = shanghai_with_channel(channel).with_applicant(channel=applicant_channel, belongs_to_company=False)

    codes = [problem.code for problem in problems_of(case)]

    assert codes == (["company_required"] if company_needed else [])


def test_the_organizations_rules_require_a_company_whatever_the_channel() -> None:
    case = happy("gansu", "jianli_yewu").with_program(channel=EnrolmentChannel.BOTH)

    assert [p.code for p in problems_of(case.with_applicant(channel="self", belongs_to_company=False))] == [
        "company_required"
    ]


# ---------------------------------------------------------------------------------------------------------
# prices: members, materials
# ---------------------------------------------------------------------------------------------------------


def gansu_priced(fee_fen: int, **membership: object) -> Case:
    case = happy("gansu", "jianli_yewu")
    case = case.with_program(
        price=case.program.price.model_copy(update={"fee_fen": fee_fen}), members_only=False
    )
    if membership:
        rules = case.rules.model_copy(
            update={"membership": case.rules.membership.model_copy(update=membership)}
        )
        case = dataclasses.replace(case, rules=rules)
    return case


@pytest.mark.parametrize(("is_member", "fee_fen"), [(True, 0), (False, 50000)])
def test_gansu_members_train_free(is_member: bool, fee_fen: int) -> None:
    case = gansu_priced(50000).with_applicant(is_member=is_member)
    assert case.rules.membership.members_training_price == MembersTrainingPrice.FREE

    decision = case.evaluate()

    assert (decision.allowed, decision.fee_fen) == (True, fee_fen)


@pytest.mark.parametrize(("is_member", "fee_fen"), [(True, 42500), (False, 50000)])
def test_members_pay_a_percentage_where_the_rules_say_so(is_member: bool, fee_fen: int) -> None:
    case = gansu_priced(
        50000, members_training_price=MembersTrainingPrice.PERCENT, members_training_percent=85
    ).with_applicant(is_member=is_member)

    assert case.evaluate().fee_fen == fee_fen


@pytest.mark.parametrize(("percent", "fee_fen"), [(50, 500), (85, 849), (1, 10)])
def test_a_members_percentage_rounds_half_up_to_the_fen(percent: int, fee_fen: int) -> None:
    # 999 × 50% = 499.5 → 500; 999 × 85% = 849.15 → 849; 999 × 1% = 9.99 → 10
    membership = rules_of("gansu").membership.model_copy(
        update={"members_training_price": MembersTrainingPrice.PERCENT, "members_training_percent": percent}
    )
    price = rules_of("gansu").programs[0].price.model_copy(update={"fee_fen": 999})

    assert fee_for(price=price, membership=membership, with_materials=None, is_member=True) == fee_fen


def test_a_member_pays_full_price_where_membership_is_off() -> None:
    case = happy("sichuan", "jianli_2022").with_applicant(is_member=True)

    assert case.evaluate().fee_fen == 92000


@pytest.mark.parametrize(("with_materials", "fee_fen"), [(True, 92000), (False, 80000)])
def test_sichuan_materials_are_optional_and_priced(with_materials: bool, fee_fen: int) -> None:
    decision = happy("sichuan", "jianli_2022").with_submission(with_materials=with_materials).evaluate()

    assert (decision.allowed, decision.fee_fen) == (True, fee_fen)


@pytest.mark.parametrize("with_materials", [None, True, False])
def test_shanghai_books_are_shipped_to_everyone_and_priced_in(with_materials: bool | None) -> None:
    case = happy("shanghai", "zhuanxiang").with_submission(with_materials=with_materials)
    priced = case.with_program(price=case.program.price.model_copy(update={"materials_fee_fen": 3000}))

    assert (case.evaluate().allowed, case.evaluate().fee_fen) == (True, 150000)
    assert (priced.evaluate().allowed, priced.evaluate().fee_fen) == (True, 153000)


# ---------------------------------------------------------------------------------------------------------
# window and capacity edges
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "opens_at", "closes_at", "codes"),
    [
        (OPENS_AT - timedelta(microseconds=1), OPENS_AT, CLOSES_AT, ["window_not_open"]),
        (OPENS_AT, OPENS_AT, CLOSES_AT, []),  # opens_at is inclusive
        (CLOSES_AT - timedelta(microseconds=1), OPENS_AT, CLOSES_AT, []),
        (CLOSES_AT, OPENS_AT, CLOSES_AT, ["window_closed"]),  # closes_at is exclusive
        (CLOSES_AT + timedelta(days=365), OPENS_AT, None, []),
        (OPENS_AT - timedelta(days=365), None, CLOSES_AT, []),
        (NOW, None, None, []),
    ],
)
def test_window_edges(
    now: datetime, opens_at: datetime | None, closes_at: datetime | None, codes: list[str]
) -> None:
    case = dataclasses.replace(happy("shanghai", "zhuanxiang"), now=now).with_session(
        opens_at=opens_at, closes_at=closes_at
    )

    assert [problem.code for problem in problems_of(case)] == codes


def test_window_compares_instants_not_wall_clocks() -> None:
    # 01:30 UTC is 09:30 in Shanghai: a session closing at 08:00 Shanghai time is already closed.
    closes_at = datetime(2025, 12, 10, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    case = dataclasses.replace(
        happy("shanghai", "zhuanxiang"), now=datetime(2025, 12, 10, 1, 30, tzinfo=ZoneInfo("UTC"))
    ).with_session(opens_at=None, closes_at=closes_at)

    assert [problem.code for problem in problems_of(case)] == ["window_closed"]


@pytest.mark.parametrize(
    ("capacity", "taken", "waiting_list", "codes", "waitlisted"),
    [
        (0, 5000, False, [], False),  # 0 = unlimited
        (0, 5000, True, [], False),
        (30, 29, False, [], False),  # the last seat
        (30, 30, False, ["session_full"], False),
        (30, 31, False, ["session_full"], False),
        (30, 29, True, [], False),
        (30, 30, True, [], True),  # full: queued on the waiting list
        (1, 1, True, [], True),
    ],
)
def test_capacity_edges(
    capacity: int, taken: int, waiting_list: bool, codes: list[str], waitlisted: bool
) -> None:
    decision = (
        happy("shanghai", "zhuanxiang")
        .with_session(capacity=capacity, taken=taken, waiting_list=waiting_list)
        .evaluate()
    )

    assert [problem.code for problem in decision.problems] == codes
    assert decision.waitlisted is waitlisted


def test_waitlisted_is_reported_alongside_other_problems() -> None:
    decision = (
        happy("shanghai", "zhuanxiang")
        .with_session(taken=30, waiting_list=True)
        .with_applicant(has_photo=False)
    ).evaluate()

    assert (decision.allowed, decision.waitlisted) == (False, True)


# ---------------------------------------------------------------------------------------------------------
# shown_if: the mini-program's invoice and materials-address fields
# ---------------------------------------------------------------------------------------------------------

INVOICE_FIELDS = ("invoice_type", "invoice_title", "email")


@pytest.mark.parametrize("no", ["否", False, "false", "no", "NO"])
def test_no_invoice_hides_and_drops_the_invoice_fields(no: object) -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(
        need_invoice=no, invoice_type="bogus", invoice_title=None
    )

    decision = case.evaluate()

    assert decision.problems == ()
    assert decision.cleaned_answers["need_invoice"] is False
    assert [key for key in INVOICE_FIELDS if key in decision.cleaned_answers] == []


@pytest.mark.parametrize("yes", ["是", True, "true", "True", " yes "])
def test_an_invoice_asks_for_the_invoice_fields(yes: object) -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(
        need_invoice=yes, invoice_type=None, invoice_title=None, email=None
    )

    assert problems_of(case) == (
        Problem("field_required", "请选择开票类型", "invoice_type"),
        Problem("field_required", "请填写发票抬头", "invoice_title"),
        Problem("field_required", "请填写电子邮箱", "email"),
    )


def test_invoice_fields_are_kept_when_shown() -> None:
    cleaned = happy("miniapp", "jianli_yewu").evaluate().cleaned_answers

    assert {key: cleaned[key] for key in ("need_invoice", *INVOICE_FIELDS)} == {
        "need_invoice": True,
        "invoice_type": "electronic_normal",
        "invoice_title": "测试",
        "email": "zhangsan@example.com",
    }


def test_an_unreadable_condition_hides_what_depends_on_it() -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(need_invoice="也许", invoice_type=None)

    assert problems_of(case) == (Problem("field_type_invalid", "需要发票须选择“是”或“否”", "need_invoice"),)


def test_a_missing_yes_no_answer_is_required_but_false_is_an_answer() -> None:
    case = happy("miniapp", "jianli_yewu")

    assert problems_of(case.with_answers(need_invoice=None)) == (
        Problem("field_required", "请选择需要发票", "need_invoice"),
    )
    assert problems_of(case.with_answers(need_invoice=False)) == ()


@pytest.mark.parametrize(
    ("choice", "address", "codes", "kept"),
    [
        ("same", "北京市朝阳区某路2号", [], False),  # hidden: dropped even when answered
        ("other", None, ["field_required"], False),
        ("other", "北京市朝阳区某路2号", [], True),
    ],
)
def test_other_materials_address_is_asked_only_when_chosen(
    choice: str, address: str | None, codes: list[str], kept: bool
) -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(
        materials_address_choice=choice, materials_address=address
    )

    decision = case.evaluate()

    assert [problem.code for problem in decision.problems] == codes
    assert ("materials_address" in decision.cleaned_answers) is kept


def test_a_hidden_file_field_does_not_require_its_document() -> None:
    # The work proof asked only of people with at least one year of work (a condition on an earlier field).
    case = happy("miniapp", "jianli_yewu")
    condition = FieldCondition(field="work_years", equals="one_year_or_more")
    fields = tuple(
        f.model_copy(update={"shown_if": condition}) if f.key == "work_proof" else f
        for f in case.program.fields
    )
    case = case.with_program(fields=fields).with_submission(documents=frozenset({"education_proof", "photo"}))

    assert problems_of(case) == (
        Problem("document_required", "请上传参加监理工作满一年的单位证明", "work_proof"),
    )
    assert problems_of(case.with_answers(work_years="less_than_one_year")) == ()


# ---------------------------------------------------------------------------------------------------------
# choices: inline, multi, sessions, units, institutions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        (["quality_safety", "theory", "theory"], ["theory", "quality_safety"]),  # options' order, once each
        ("theory", ["theory"]),
        (("quality_safety",), ["quality_safety"]),
    ],
)
def test_multi_choice_values(raw: object, cleaned: list[str]) -> None:
    decision = happy("miniapp", "jianli_yewu").with_answers(subjects=raw).evaluate()

    assert decision.problems == ()
    assert decision.cleaned_answers["subjects"] == cleaned


def test_multi_choice_reports_every_unknown_value() -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(subjects=["theory", "law", "math"])

    assert problems_of(case) == (
        Problem("field_choice_invalid", "报考科目不能选择「law」、「math」，请从选项中选择", "subjects"),
    )


def test_an_empty_multi_choice_is_missing() -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(subjects=[])

    assert problems_of(case) == (Problem("field_required", "请选择报考科目", "subjects"),)


@pytest.mark.parametrize(("raw", "cleaned"), [("session-any", "session-any"), (17, "17")])
def test_a_session_choice_is_left_to_the_service(raw: object, cleaned: str) -> None:
    decision = happy("miniapp", "jianli_yewu").with_answers(session=raw).evaluate()

    assert (decision.problems, decision.cleaned_answers["session"]) == ((), cleaned)


def test_a_unit_choice_must_be_a_unit_of_the_rules() -> None:
    case = happy("miniapp", "jianli_yewu").with_answers(region="atlantis")

    assert problems_of(case) == (
        Problem("field_choice_invalid", "地区不能选择「atlantis」，请从选项中选择", "region"),
    )


def test_a_unit_choice_is_limited_to_the_units_opening_the_program() -> None:
    case = happy("miniapp", "jianli_yewu").with_program(unit_codes=("east",))

    assert problems_of(case.with_answers(region="east")) == ()
    assert [p.code for p in problems_of(case.with_answers(region="west"))] == ["field_choice_invalid"]


@pytest.mark.parametrize(
    ("city", "institution", "codes"),
    [
        ("zhengzhou", "zz_chengjian", []),
        ("kaifeng", "kf_jianshe", []),
        ("kaifeng", "zz_jianshe", ["field_choice_invalid"]),  # not an institution of the chosen city
        ("kaifeng", "nowhere", ["field_choice_invalid"]),
    ],
)
def test_an_institution_must_belong_to_the_chosen_city(city: str, institution: str, codes: list[str]) -> None:
    case = happy("henan", "continuing_education").with_answers(city=city, institution=institution)

    assert [problem.code for problem in problems_of(case)] == codes


def test_an_inline_choice_is_text() -> None:
    case = happy("sichuan", "jianli_2022").with_answers(education=3)

    assert problems_of(case) == (
        Problem("field_type_invalid", "学历的取值格式不正确，请从选项中选择", "education"),
    )


# ---------------------------------------------------------------------------------------------------------
# field types, on a form with one field of each kind
# ---------------------------------------------------------------------------------------------------------

FORMS_RULES = dedent(
    """
    [identity]
    person_login_methods = ["phone_password"]

    [[programs]]
    code = "forms"
    name = "表单测试"

    [[programs.fields]]
    key = "birth_date"
    label = "出生日期"
    type = "date"

    [[programs.fields]]
    key = "work_years"
    label = "工作年限"
    type = "number"

    [[programs.fields]]
    key = "has_certificate"
    label = "持有证书"
    type = "yes_no"

    [[programs.fields]]
    key = "email"
    label = "电子邮箱"
    type = "email"

    [[programs.fields]]
    key = "phone"
    label = "联系电话"
    type = "phone"

    [[programs.fields]]
    key = "address"
    label = "邮寄地址"
    type = "address"

    [[programs.fields]]
    key = "remark"
    label = "备注"
    type = "long_text"
    required = false
    """
)


@functools.cache
def forms_rules() -> Rules:
    return load_rules_text(FORMS_RULES, source="forms.toml")


def forms_case(**answers: object) -> Case:
    valid = {
        "birth_date": "1990-05-01",
        "work_years": "3",
        "has_certificate": "是",
        "email": "li@example.com",
        "phone": "13800138000",
        "address": "成都市武侯区某街3号",
    }
    case = Case(
        rules=forms_rules(),
        program_code="forms",
        applicant=happy("shanghai", "zhuanxiang").applicant,
        session=SessionSnapshot(capacity=0, taken=0, opens_at=None, closes_at=None, waiting_list=False),
        submission=Submission(answers=valid, documents=frozenset(), pledges={}, with_materials=None),
    )
    return case.with_answers(**answers)


@pytest.mark.parametrize(
    ("key", "raw", "cleaned"),
    [
        ("birth_date", "1990-05-01", "1990-05-01"),
        ("birth_date", NOW.date(), "2025-12-10"),
        ("work_years", "3", 3),
        ("work_years", " 2.5 ", 2.5),
        ("work_years", 0, 0),
        ("work_years", 4.0, 4),
        ("has_certificate", "否", False),
        ("has_certificate", True, True),
        ("has_certificate", "FALSE", False),
        ("email", " li@example.com ", "li@example.com"),
        ("phone", "138 0013 8000", "13800138000"),
        ("phone", "+8613800138000", "13800138000"),
        ("phone", "028-85551234", "028-85551234"),
        (
            "address",
            {"province": "四川省", "city": "成都市", "detail": " 某街3号 "},
            {
                "province": "四川省",
                "city": "成都市",
                "detail": "某街3号",
            },
        ),
        ("remark", "  无  ", "无"),
    ],
)
def test_valid_values_are_normalised(key: str, raw: object, cleaned: object) -> None:
    decision = forms_case(**{key: raw}).evaluate()

    assert decision.problems == ()
    assert decision.cleaned_answers[key] == cleaned


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("birth_date", "1990/05/01", "出生日期须为有效日期，格式如 2025-01-31"),
        ("birth_date", "1990-02-30", "出生日期须为有效日期，格式如 2025-01-31"),
        ("birth_date", "19900501", "出生日期须为有效日期，格式如 2025-01-31"),
        ("birth_date", NOW, "出生日期须为有效日期，格式如 2025-01-31"),
        ("work_years", "三年", "工作年限须为数字"),
        ("work_years", True, "工作年限须为数字"),
        ("work_years", "nan", "工作年限须为数字"),
        ("work_years", "1e999", "工作年限须为数字"),
        ("has_certificate", "对", "持有证书须选择“是”或“否”"),
        ("has_certificate", 1, "持有证书须选择“是”或“否”"),
        ("email", "li.example.com", "电子邮箱格式不正确，请填写如 name@example.com 的电子邮箱"),
        ("phone", "12345", "联系电话格式不正确，请填写11位手机号或带区号的固定电话"),
        ("address", 42, "邮寄地址须为文字"),
        ("remark", {"text": "无"}, "备注须为文字"),
    ],
)
def test_values_of_the_wrong_type_are_refused(key: str, raw: object, message: str) -> None:
    decision = forms_case(**{key: raw}).evaluate()

    assert decision.problems == (Problem("field_type_invalid", message, key),)
    assert key not in decision.cleaned_answers


def test_unknown_answer_keys_are_dropped() -> None:
    decision = forms_case(unexpected="x").evaluate()

    assert (decision.problems, "unexpected" in decision.cleaned_answers) == ((), False)


def test_a_program_without_a_form_needs_no_answers() -> None:
    case = happy("gansu", "jianli_yewu").with_submission(answers={"anything": "x"})

    decision = case.evaluate()

    assert (decision.allowed, decision.cleaned_answers) == (True, {})

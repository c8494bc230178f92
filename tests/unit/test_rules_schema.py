"""The rules schema and loader: the five association files load, and every kind of mistake is refused with
the file, the key path, what was expected and what was found.

Pure: no database and no Django settings (the management command is called without them too).
"""

import io
import json
from pathlib import Path
from textwrap import dedent

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenant_configs.loader import (
    RulesFileError,
    RulesProblem,
    load_rules_data,
    load_rules_file,
    load_rules_text,
    rules_to_data,
    rules_to_toml,
)
from tenant_configs.management.commands.tenant_config import Command
from tenant_configs.schema import (
    CertificateCondition,
    EnrolmentChannel,
    InvoiceType,
    MaterialsPolicy,
    Payer,
    PaymentChannel,
    PersonLoginMethod,
    ProfileField,
    ReviewStep,
    Rules,
)

RULES_DIR = Path(__file__).resolve().parents[2] / "tenant_configs"
TENANTS = ["sichuan", "miniapp", "henan", "gansu", "shanghai"]


def rules_of(tenant: str) -> Rules:
    return load_rules_file(RULES_DIR / f"{tenant}.toml")


def refused(text: str, *, require_identity: bool = False) -> list[tuple[str, str, str]]:
    """Load `text` expecting a refusal; the problems as (key_path, expected, found)."""
    with pytest.raises(RulesFileError) as caught:
        load_rules_text(dedent(text), source="t.toml", require_identity=require_identity)
    assert {problem.file for problem in caught.value.problems} == {"t.toml"}
    return [(problem.key_path, problem.expected, problem.found) for problem in caught.value.problems]


# ---------------------------------------------------------------------------------------------------------
# the five association files
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", TENANTS)
def test_each_association_file_loads_with_identity(tenant: str) -> None:
    rules = load_rules_file(RULES_DIR / f"{tenant}.toml", require_identity=True)

    assert rules.association.slug == tenant
    assert rules.association.name != ""
    assert rules.billing.currency == "CNY"


@pytest.mark.parametrize("tenant", TENANTS)
def test_toml_round_trip_gives_equal_rules(tenant: str) -> None:
    rules = rules_of(tenant)

    text = rules_to_toml(rules)

    assert load_rules_text(text, source=f"{tenant} normalised") == rules
    assert rules_to_toml(load_rules_text(text)) == text


@pytest.mark.parametrize("tenant", TENANTS)
def test_data_round_trip_through_json_gives_equal_rules(tenant: str) -> None:
    rules = rules_of(tenant)

    stored = json.loads(json.dumps(rules_to_data(rules), ensure_ascii=False))

    assert load_rules_data(stored, source=f"{tenant} v1") == rules
    assert "null" not in json.dumps(stored)  # TOML has no null: the data must be writable as TOML too


def test_sichuan_reproduces_the_manual() -> None:
    rules = rules_of("sichuan")
    program = rules.program("jianli_2022")

    assert rules.identity.person_login_methods == (
        PersonLoginMethod.PHONE_SMS,
        PersonLoginMethod.PHONE_PASSWORD,
    )
    assert rules.identity.real_name_verification == "required_before_enrolment"
    assert rules.identity.company_account_creation == "self_registration"
    assert [document.label for document in rules.identity.company_documents] == ["营业执照扫描件", "社保证明"]
    assert [(unit.code, unit.name, unit.kind) for unit in rules.organizations.units] == [
        ("jianli", "监理分会", "branch")
    ]
    assert rules.organizations.person_must_belong_to_company is True
    assert program.name == "2022年四川省工程监理人员职业培训"
    assert program.channel == EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION
    assert program.review_chain == (ReviewStep.COMPANY,)
    assert program.company_may_edit is True
    assert program.requires_real_name is True
    assert [document.key for document in program.documents] == ["id_card", "diploma"]
    assert program.price.materials_policy == MaterialsPolicy.OPTIONAL
    assert [(pledge.title, pledge.signer, pledge.stage) for pledge in program.pledges] == [
        ("个人承诺书", "person", "application"),
        ("委托培训协议", "company", "payment"),
        ("企业承诺书", "company", "payment"),
    ]
    billing = rules.billing
    assert billing.payer == Payer.COMPANY
    assert billing.channels == (
        PaymentChannel.WECHAT_NATIVE,
        PaymentChannel.ALIPAY_QR,
        PaymentChannel.OFFLINE_TRANSFER,
    )
    assert billing.offline_transfer.deadline_hours == 24
    assert (billing.invoice_cap.cap_fen, billing.invoice_cap.strict) == (1_000_000, True)
    assert billing.split.separate_materials is True
    assert billing.invoice_types.online == (InvoiceType.ELECTRONIC_NORMAL,)
    assert billing.invoice_types.offline_transfer == (InvoiceType.ELECTRONIC_NORMAL, InvoiceType.SPECIAL_VAT)
    assert billing.receipt_email_required is True
    video = rules.learning.video
    assert (video.forbid_seek_ahead, video.resume, video.idle_pause_minutes) == (True, True, 20)
    assert rules.learning.completion_required_before_test_card is True
    [test_card] = rules.certificates.kinds
    assert (test_card.title, test_card.condition, test_card.print_window_days) == (
        "测试证",
        CertificateCondition.AFTER_LEARNING_COMPLETION,
        7,
    )


def test_miniapp_reproduces_the_manual() -> None:
    rules = rules_of("miniapp")
    program = rules.program("jianli_yewu")

    assert rules.identity.person_login_methods == (PersonLoginMethod.WECHAT_MINIPROGRAM,)
    assert rules.identity.companies_enabled is False
    assert rules.identity.locked_on_enrolment == (
        ProfileField.NAME,
        ProfileField.GENDER,
        ProfileField.ID_NUMBER,
    )
    assert rules.organizations.enrolment_scope == "regions"
    assert [(field.key, field.label) for field in program.fields] == [
        ("session", "期次"),
        ("region", "地区"),
        ("name", "姓名"),
        ("gender", "性别"),
        ("phone", "手机号"),
        ("id_number", "身份证号"),
        ("education", "学历"),
        ("education_proof", "学历证明"),
        ("work_years", "工作年限"),
        ("work_proof", "工作证明"),
        ("major", "专业"),
        ("subjects", "报考科目"),
        ("exam_type", "考试类型"),
        ("photo", "上传照片"),
        ("industry", "培训行业"),
        ("employer", "报名单位"),
        ("certificate_address", "证书邮寄地址"),
        ("materials_address_choice", "教材邮寄地址"),
        ("materials_address", "教材邮寄地址（其他）"),
        ("need_invoice", "需要发票"),
        ("invoice_type", "开票类型"),
        ("invoice_title", "发票抬头"),
        ("email", "电子邮箱"),
    ]
    assert program.field("subjects").type == "multi_choice"
    assert [choice.label for choice in program.field("exam_type").choices] == ["正常考试", "补考"]
    assert [choice.label for choice in program.field("industry").choices] == ["公路", "水运"]
    assert [choice.label for choice in program.field("invoice_type").choices] == ["电子普票", "纸质专票"]
    photo = next(document for document in program.documents if document.key == "photo")
    assert (photo.allowed_pixel_sizes, photo.white_background) == (((658, 926),), True)
    assert program.review_chain == (ReviewStep.ASSOCIATION,)
    assert (rules.billing.payer, rules.billing.channels) == (Payer.STUDENT, (PaymentChannel.WECHAT_JSAPI,))
    refunds = rules.billing.refunds
    assert (refunds.enabled, refunds.allowed_states, refunds.approval_required) == (
        True,
        ("paid_not_attended",),
        True,
    )
    assert rules.applications.status_labels.refund_requested == "退款审核中"
    assert [kind.title for kind in rules.certificates.kinds] == ["听课证", "准考证"]


def test_henan_reproduces_the_manual() -> None:
    rules = rules_of("henan")
    new_certificate = rules.program("new_certificate")
    continuing = rules.program("continuing_education")

    assert rules.identity.person_login_methods == (PersonLoginMethod.ID_NUMBER_PASSWORD,)
    assert rules.identity.locked_on_submit == (ProfileField.ID_NUMBER,)
    assert rules.identity.photo_review_by_staff is True
    assert rules.organizations.enrolment_scope == "cities_and_institutions"
    assert len(rules.organizations.units) == 5
    assert len(rules.organizations.institutions) == 6
    assert [step.key for step in new_certificate.wizard_steps] == [
        "notice",
        "status",
        "city",
        "institution",
        "major_post",
        "resume",
        "pledge",
        "id_front",
        "id_back",
        "diploma",
        "submit",
    ]
    assert [pledge.key for pledge in new_certificate.pledges] == ["notice", "personal_pledge"]
    assert new_certificate.review_chain == (ReviewStep.INSTITUTION, ReviewStep.ASSOCIATION)
    assert new_certificate.withdrawal == "before_first_review"
    assert [step.key for step in continuing.wizard_steps] == [
        "certificate_number",
        "major_post",
        "institution",
        "resume",
        "confirm",
    ]
    assert (rules.billing.payer, rules.billing.channels) == (Payer.NONE, ())
    assert rules.certificates.registry_enabled is True
    assert rules.certificates.continuing_education.keyed_by_certificate_number is True


def test_gansu_reproduces_the_manual() -> None:
    rules = rules_of("gansu")
    membership = rules.membership

    assert rules.identity.company_login_methods == ("company_name_password",)
    assert rules.identity.company_account_creation == "issued_by_association"
    assert rules.identity.person_login_requires_company_approval is True
    assert set(rules.identity.locked_on_submit) == set(rules.identity.profile_fields())
    assert (membership.enabled, membership.fee_per_year_fen, membership.period_years) == (True, 20000, 5)
    assert membership.members_training_price == "free"
    assert list(membership.status_labels.model_dump().values())[:5] == [
        "个人提交",
        "企业推荐（新会员）",
        "企业推荐（续期）",
        "正式会员",
        "已过期",
    ]
    assert membership.photo is not None
    assert (membership.photo.formats, membership.photo.max_kb) == (("jpg",), 150)
    offline = rules.billing.offline_transfer
    assert (offline.bank_account_name, offline.bank_name, offline.account_number) == (
        "甘肃省建设监理协会",
        "交通银行甘肃省分行营业部",
        "621060105010470040025",
    )
    assert rules.billing.payer == Payer.COMPANY


def test_shanghai_reproduces_the_manual() -> None:
    rules = rules_of("shanghai")
    program = rules.program("zhuanxiang")

    assert rules.identity.company_login_methods == ("uscc_password",)
    assert rules.identity.person_login_methods == (PersonLoginMethod.ID_NUMBER_PASSWORD,)
    assert rules.identity.registration_requires_sms is True
    assert rules.identity.profile_field_set == "full_personnel"
    assert rules.identity.profile_photo is not None
    assert rules.identity.profile_photo.allowed_pixel_sizes == ((295, 413),)
    assert rules.identity.profile_photo.formats == ("jpg",)
    assert (program.channel, program.one_enrolment_per_person, program.requires_photo) == (
        EnrolmentChannel.BOTH,
        True,
        True,
    )
    assert program.price.materials_policy == MaterialsPolicy.REQUIRED_SHIPPED
    assert rules.billing.payer == Payer.COMPANY_OR_STUDENT
    assert rules.billing.channels == (PaymentChannel.OFFLINE_TRANSFER,)
    assert rules.billing.offline_transfer.proof_required is True
    assert [(kind.title, kind.condition) for kind in rules.certificates.kinds] == [
        ("听课证", CertificateCondition.AFTER_PAYMENT_APPROVAL),
        ("合格证", CertificateCondition.AFTER_PASS_AND_REVIEW),
    ]


# ---------------------------------------------------------------------------------------------------------
# defaults
# ---------------------------------------------------------------------------------------------------------


def test_empty_file_loads_with_defaults() -> None:
    rules = load_rules_text("", source="empty.toml")

    assert rules == Rules()
    assert rules.association.slug == ""
    assert rules.programs == ()
    assert rules.billing.payer == Payer.NONE
    assert rules.billing.channels == ()
    assert rules.branding.primary_color == "#1f5fa8"
    assert rules.identity.person_login_methods == (PersonLoginMethod.PHONE_PASSWORD,)
    assert rules.membership.enabled is False
    assert rules.certificates.exams.pass_score == 60


def test_rules_are_frozen() -> None:
    rules = Rules()

    with pytest.raises(ValueError):
        rules.billing.payer = Payer.COMPANY  # type: ignore[misc]

    assert hash(rules) == hash(Rules())


def test_require_identity_refuses_a_file_without_slug_and_name() -> None:
    assert refused("", require_identity=True) == [
        ("association.slug", "a value", "nothing"),
        ("association.name", "a value", "nothing"),
    ]


# ---------------------------------------------------------------------------------------------------------
# refusals: unknown keys, wrong types, missing values, TOML syntax
# ---------------------------------------------------------------------------------------------------------

ALL_SECTIONS = "association, branding, identity, organizations, programs, applications, billing, membership, learning, certificates"


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param(
            """
            [billing.invoice_cap]
            cap_yuan = 10000
            """,
            [
                (
                    "billing.invoice_cap.cap_yuan",
                    "no such key (allowed: cap_fen, basis, strict, tax_rate_basis_points)",
                    "cap_yuan",
                )
            ],
            id="unknown-key-in-section",
        ),
        pytest.param(
            'currency = "CNY"',
            [("currency", f"no such key (allowed: {ALL_SECTIONS})", "currency")],
            id="unknown-top-level-key",
        ),
        pytest.param(
            """
            [[programs]]
            code = "p"
            name = "培训"
            [[programs.documents]]
            key = "photo"
            label = "照片"
            max_size = 150
            """,
            [
                (
                    "programs[0].documents[0].max_size",
                    "no such key (allowed: key, label, required, formats, allowed_pixel_sizes, min_width, "
                    "min_height, max_width, max_height, max_kb, white_background, color_required, template_note)",
                    "max_size",
                )
            ],
            id="unknown-key-in-list-item",
        ),
        pytest.param(
            """
            [billing.invoice_cap]
            cap_fen = "10000"
            """,
            [("billing.invoice_cap.cap_fen", "an integer", "'10000'")],
            id="money-as-string",
        ),
        pytest.param(
            """
            [billing.invoice_cap]
            cap_fen = 10000.5
            """,
            [("billing.invoice_cap.cap_fen", "an integer", "10000.5")],
            id="money-as-float",
        ),
        pytest.param(
            """
            [billing.invoice_cap]
            cap_fen = 1000000.0
            """,
            [("billing.invoice_cap.cap_fen", "an integer", "1000000.0")],
            id="money-as-whole-float",
        ),
        pytest.param(
            """
            [membership]
            fee_per_year_fen = -20000
            """,
            [("membership.fee_per_year_fen", "a number >= 0", "-20000")],
            id="negative-money",
        ),
        pytest.param(
            """
            [billing.invoice_cap]
            strict = "yes"
            """,
            [("billing.invoice_cap.strict", "true or false", "'yes'")],
            id="bool-as-string",
        ),
        pytest.param(
            """
            [billing]
            payer = "bank"
            """,
            [("billing.payer", "one of 'company', 'student', 'company_or_student' or 'none'", "'bank'")],
            id="unknown-enum-value",
        ),
        pytest.param(
            """
            [billing]
            channels = "wechat_native"
            """,
            [("billing.channels", "a list", "'wechat_native'")],
            id="string-instead-of-list",
        ),
        pytest.param(
            """
            [billing]
            channels = ["wechat_native", "paypal"]
            payer = "company"
            """,
            [
                (
                    "billing.channels[1]",
                    "one of 'wechat_native', 'wechat_jsapi', 'alipay_page', 'alipay_qr', 'stripe' or "
                    "'offline_transfer'",
                    "'paypal'",
                )
            ],
            id="unknown-channel-in-list",
        ),
        pytest.param(
            "association = 3",
            [("association", "a table", "3")],
            id="number-instead-of-table",
        ),
        pytest.param(
            """
            [association]
            slug = "Sichuan"
            """,
            [("association.slug", "text matching ^([a-z][a-z0-9_]{1,30})?$", "'Sichuan'")],
            id="slug-not-lowercase",
        ),
        pytest.param(
            """
            [branding]
            primary_color = "red"
            """,
            [("branding.primary_color", "text matching ^#[0-9a-fA-F]{6}$", "'red'")],
            id="colour-not-hex",
        ),
        pytest.param(
            """
            [[programs]]
            code = "p"
            name = "培训"
            [[programs.documents]]
            key = "photo"
            label = "照片"
            max_kb = "150"
            allowed_pixel_sizes = [[295, 413, 1]]
            """,
            [
                ("programs[0].documents[0].allowed_pixel_sizes[0]", "at most 2 items", "[295, 413, 1]"),
                ("programs[0].documents[0].max_kb", "an integer", "'150'"),
            ],
            id="wrong-types-deep-in-lists",
        ),
        pytest.param(
            """
            [organizations]
            enrolment_scope = "branches"
            [[organizations.units]]
            name = "监理分会"
            """,
            [("organizations.units[0].code", "a value", "nothing")],
            id="missing-code-of-list-item",
        ),
        pytest.param(
            """
            [[programs]]
            code = "p"
            """,
            [("programs[0].name", "a value", "nothing")],
            id="missing-name-of-program",
        ),
    ],
)
def test_structural_mistakes_are_refused(text: str, problems: list[tuple[str, str, str]]) -> None:
    assert refused(text) == problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "[billing]\npayer = company\n",
            ("line 2, column 9", "valid TOML (invalid value)", "'company'"),
            id="bare-string",
        ),
        pytest.param(
            '[association]\nname = "四川\n',
            ("line 2, column 11", "valid TOML (illegal character '\\n')", "end of line"),
            id="unterminated-string",
        ),
        pytest.param(
            "[billing\npayer = 'company'\n",
            (
                "line 1, column 9",
                "valid TOML (expected ']' at the end of a table declaration)",
                "end of line",
            ),
            id="unclosed-table-header",
        ),
        pytest.param(
            "[billing]\npayer = ",
            ("line 2, column 9", "valid TOML (invalid value)", "end of document"),
            id="value-missing-at-end",
        ),
    ],
)
def test_toml_syntax_errors_name_line_and_column(text: str, problem: tuple[str, str, str]) -> None:
    with pytest.raises(RulesFileError) as caught:
        load_rules_text(text, source="t.toml")

    assert [(p.key_path, p.expected, p.found) for p in caught.value.problems] == [problem]


def test_problem_lines_render_file_key_path_expected_and_found() -> None:
    text = "[billing.invoice_cap]\ncap_fen = 100.5\nstrict = 1\n"

    with pytest.raises(RulesFileError) as caught:
        load_rules_text(text, source="tenant_configs/sichuan.toml")

    assert caught.value.problems == (
        RulesProblem("tenant_configs/sichuan.toml", "billing.invoice_cap.cap_fen", "an integer", "100.5"),
        RulesProblem("tenant_configs/sichuan.toml", "billing.invoice_cap.strict", "true or false", "1"),
    )
    assert str(caught.value) == (
        "tenant_configs/sichuan.toml: billing.invoice_cap.cap_fen: expected an integer, found 100.5\n"
        "tenant_configs/sichuan.toml: billing.invoice_cap.strict: expected true or false, found 1"
    )


def test_missing_file_is_a_problem_of_that_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(RulesFileError) as caught:
        load_rules_file(path)

    assert caught.value.problems == (
        RulesProblem(str(path), "(file)", "a readable UTF-8 TOML file", "no such file"),
    )


def test_stored_data_with_null_is_refused_with_its_source() -> None:
    with pytest.raises(RulesFileError) as caught:
        load_rules_data({"billing": {"payer": None}}, source="sichuan v3")

    assert caught.value.problems == (
        RulesProblem(
            "sichuan v3",
            "billing.payer",
            "one of 'company', 'student', 'company_or_student' or 'none'",
            "null",
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# refusals: contradictory rules
# ---------------------------------------------------------------------------------------------------------

PROGRAM = """
[[programs]]
code = "p"
name = "培训"
"""

COMPANY_PAYS_OFFLINE = """
[billing]
payer = "company"
channels = ["offline_transfer"]
[billing.offline_transfer]
bank_account_name = "协会"
bank_name = "银行"
account_number = "123"
"""

CONTRADICTIONS = [
    # --- programs: review chain and channel
    pytest.param(
        PROGRAM + 'review_chain = ["institution"]',
        [
            (
                "programs[0].review_chain[0]",
                "a review step other than institution (no organizations.institutions are defined)",
                "'institution'",
            )
        ],
        id="institution-review-without-institutions",
    ),
    pytest.param(
        PROGRAM + 'channel = "self_with_company_confirmation"\nreview_chain = ["association"]',
        [
            (
                "programs[0].review_chain",
                "a review chain containing 'company' (channel is self_with_company_confirmation)",
                "['association']",
            )
        ],
        id="company-confirmation-without-company-review",
    ),
    pytest.param(
        PROGRAM + "company_may_edit = true",
        [("programs[0].company_may_edit", "false when 'company' is not in the review chain", "true")],
        id="company-edit-without-company-review",
    ),
    pytest.param(
        PROGRAM + 'review_chain = ["association", "company"]',
        [
            (
                "programs[0].review_chain[1]",
                "steps in the order company → institution → association",
                "'company'",
            )
        ],
        id="review-chain-out-of-order",
    ),
    pytest.param(
        PROGRAM + 'review_chain = ["association", "association"]',
        [("programs[0].review_chain[1]", "a value listed only once", "'association'")],
        id="review-step-twice",
    ),
    pytest.param(
        "[identity]\ncompany_login_methods = []\n" + PROGRAM + 'channel = "company_only"',
        [("programs[0].channel", "self_only (identity.company_login_methods is empty)", "'company_only'")],
        id="company-channel-without-companies",
    ),
    pytest.param(
        PROGRAM + 'unit_codes = ["jianli"]',
        [("programs[0].unit_codes[0]", "the code of one of organizations.units (none defined)", "'jianli'")],
        id="program-in-unknown-unit",
    ),
    pytest.param(
        PROGRAM + "requires_real_name = true",
        [("programs[0].requires_real_name", "false when identity.real_name_verification is none", "true")],
        id="real-name-required-but-never-verified",
    ),
    pytest.param(
        PROGRAM + "requires_photo = true",
        [("programs[0].requires_photo", "false when identity.profile_photo is not defined", "true")],
        id="photo-required-without-photo-spec",
    ),
    pytest.param(
        PROGRAM + "members_only = true",
        [("programs[0].members_only", "false when membership is disabled", "true")],
        id="members-only-without-membership",
    ),
    pytest.param(
        PROGRAM + 'kind = "continuing_education"',
        [
            (
                "programs[0].kind",
                "a kind other than continuing_education (certificates.continuing_education is disabled)",
                "'continuing_education'",
            )
        ],
        id="continuing-education-program-while-disabled",
    ),
    pytest.param(
        PROGRAM + "[programs.price]\nfee_fen = 80000",
        [("programs[0].price.fee_fen", "0 when billing.payer is none", "80000")],
        id="fee-but-nobody-pays",
    ),
    pytest.param(
        PROGRAM + '[programs.price]\nfee_fen = 80000\nmaterials_policy = "optional"',
        [("programs[0].price.materials_fee_fen", "an amount > 0 when materials_policy is optional", "0")],
        id="optional-materials-without-price",
    ),
    pytest.param(
        PROGRAM + "[programs.price]\nmaterials_fee_fen = 12000",
        [("programs[0].price.materials_fee_fen", "0 when materials_policy is none", "12000")],
        id="materials-price-without-materials",
    ),
    # --- programs: fields, documents, pledges, wizard
    pytest.param(
        PROGRAM + '[[programs.fields]]\nkey = "exam_type"\nlabel = "考试类型"\ntype = "choice"',
        [("programs[0].fields[0].choices", "at least one choice for a choice field", "[]")],
        id="choice-field-without-choices",
    ),
    pytest.param(
        PROGRAM + '[[programs.fields]]\nkey = "subjects"\nlabel = "报考科目"\ntype = "multi_choice"',
        [("programs[0].fields[0].choices", "at least one choice for a multi_choice field", "[]")],
        id="multi-choice-field-without-choices",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "major"\nlabel = "专业"\nchoices = [{ value = "a", label = "甲" }]',
        [("programs[0].fields[0].choices", "no choices for a text field", "['a']")],
        id="choices-on-text-field",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "t"\nlabel = "类型"\ntype = "choice"\n'
        + 'choices = [{ value = "a", label = "甲" }, { value = "a", label = "乙" }]',
        [("programs[0].fields[0].choices[1].value", "a value used only once in this list", "'a'")],
        id="duplicate-choice-value",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "region"\nlabel = "地区"\ntype = "choice"\nchoices_source = "units"',
        [
            (
                "programs[0].fields[0].choices_source",
                "a source other than units (no organizations.units are defined)",
                "'units'",
            )
        ],
        id="choices-from-missing-units",
    ),
    pytest.param(
        PROGRAM + '[[programs.fields]]\nkey = "photo"\nlabel = "照片"\ntype = "file"',
        [
            (
                "programs[0].fields[0].document",
                "the key of one of this program's documents (type is file)",
                "nothing",
            )
        ],
        id="file-field-without-document",
    ),
    pytest.param(
        PROGRAM + '[[programs.fields]]\nkey = "photo"\nlabel = "照片"\ntype = "file"\ndocument = "portrait"',
        [
            (
                "programs[0].fields[0].document",
                "the key of one of this program's documents (none defined)",
                "'portrait'",
            )
        ],
        id="file-field-with-unknown-document",
    ),
    pytest.param(
        PROGRAM + '[[programs.fields]]\nkey = "ethnicity"\nlabel = "民族"\nprofile_field = "ethnicity"',
        [
            (
                "programs[0].fields[0].profile_field",
                "a field of the profile (name, gender, id_number, phone, email, address, company_name, photo)",
                "'ethnicity'",
            )
        ],
        id="field-bound-to-profile-field-outside-the-profile",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "need_invoice"\nlabel = "需要发票"\ntype = "yes_no"\n'
        + '[[programs.fields]]\nkey = "title"\nlabel = "发票抬头"\nshown_if = { field = "need_invoice", equals = "true" }',
        [("programs[0].fields[1].shown_if.equals", "'yes' or 'no'", "'true'")],
        id="shown-if-with-impossible-value",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "title"\nlabel = "发票抬头"\nshown_if = { field = "need_invoice", equals = "yes" }',
        [
            (
                "programs[0].fields[0].shown_if.field",
                "the key of an earlier field of this program",
                "'need_invoice'",
            )
        ],
        id="shown-if-on-unknown-field",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.fields]]\nkey = "a"\nlabel = "甲"\n[[programs.fields]]\nkey = "a"\nlabel = "乙"',
        [("programs[0].fields[1].key", "a key used only once in this list", "'a'")],
        id="duplicate-field-key",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.documents]]\nkey = "d"\nlabel = "甲"\n[[programs.documents]]\nkey = "d"\nlabel = "乙"',
        [("programs[0].documents[1].key", "a key used only once in this list", "'d'")],
        id="duplicate-document-key",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.pledges]]\nkey = "k"\ntitle = "甲"\ntext = "…"\n'
        + '[[programs.pledges]]\nkey = "k"\ntitle = "乙"\ntext = "…"',
        [("programs[0].pledges[1].key", "a key used only once in this list", "'k'")],
        id="duplicate-pledge-key",
    ),
    pytest.param(
        PROGRAM + '[[programs.pledges]]\nkey = "k"\ntitle = "个人承诺书"',
        [("programs[0].pledges[0].text", "a value", "nothing")],
        id="pledge-without-text",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.documents]]\nkey = "photo"\nlabel = "照片"\nallowed_pixel_sizes = [[295, 413]]\nmin_width = 200',
        [
            (
                "programs[0].documents[0].allowed_pixel_sizes",
                "either exact pixel sizes or min/max sizes, not both",
                "[[295, 413]]",
            )
        ],
        id="exact-and-range-pixel-sizes",
    ),
    pytest.param(
        PROGRAM + '[[programs.documents]]\nkey = "photo"\nlabel = "照片"\nmin_width = 500\nmax_width = 400',
        [("programs[0].documents[0].min_width", "at most max_width (400)", "500")],
        id="min-width-above-max-width",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.documents]]\nkey = "scan"\nlabel = "扫描件"\nformats = ["pdf"]\ncolor_required = true',
        [
            (
                "programs[0].documents[0].formats",
                "an image format (jpg or png) for pixel, colour or background checks",
                "['pdf']",
            )
        ],
        id="colour-check-on-pdf-only",
    ),
    pytest.param(
        PROGRAM
        + '[[programs.wizard_steps]]\nkey = "s"\ntitle = "第一步"\nfields = ["status"]\n'
        + '[[programs.fields]]\nkey = "city"\nlabel = "地市"',
        [
            (
                "programs[0].wizard_steps[0].fields[0]",
                "the key of one of this program's fields (city)",
                "'status'",
            ),
            ("programs[0].fields[0].key", "an item placed in one of the wizard_steps", "'city'"),
        ],
        id="wizard-step-with-unknown-field-and-unplaced-field",
    ),
    pytest.param(
        PROGRAM + '[[programs]]\ncode = "p"\nname = "另一个"',
        [("programs[1].code", "a code used only once in this list", "'p'")],
        id="duplicate-program-code",
    ),
    # --- identity and organizations
    pytest.param(
        "[identity]\nperson_login_methods = []",
        [("identity.person_login_methods", "at least one person login method", "[]")],
        id="no-person-login",
    ),
    pytest.param(
        '[identity]\nlocked_on_submit = ["name", "ethnicity"]',
        [
            (
                "identity.locked_on_submit[1]",
                "a field of the profile (name, gender, id_number, phone, email, address, company_name, photo)",
                "'ethnicity'",
            )
        ],
        id="lock-on-field-outside-the-profile",
    ),
    pytest.param(
        "[identity]\ncompany_login_methods = []\nperson_login_requires_company_approval = true",
        [
            (
                "identity.person_login_requires_company_approval",
                "false when there are no company login methods",
                "true",
            )
        ],
        id="company-approval-without-companies",
    ),
    pytest.param(
        "[identity]\nphoto_review_by_staff = true",
        [("identity.photo_review_by_staff", "false when no profile_photo is defined", "true")],
        id="photo-review-without-photo",
    ),
    pytest.param(
        "[identity]\ncompany_login_methods = []\n[organizations]\nperson_must_belong_to_company = true",
        [
            (
                "organizations.person_must_belong_to_company",
                "false when identity.company_login_methods is empty",
                "true",
            )
        ],
        id="must-belong-to-company-without-companies",
    ),
    pytest.param(
        '[[organizations.units]]\ncode = "jianli"\nname = "监理分会"',
        [("organizations.units", "no units when enrolment_scope is none", "['jianli']")],
        id="units-without-scope",
    ),
    pytest.param(
        '[organizations]\nenrolment_scope = "regions"',
        [("organizations.units", "at least one unit of kind region (enrolment_scope is regions)", "[]")],
        id="scope-without-units",
    ),
    pytest.param(
        '[organizations]\nenrolment_scope = "regions"\n[[organizations.units]]\ncode = "a"\nname = "甲"\nkind = "city"',
        [("organizations.units[0].kind", "region (enrolment_scope is regions)", "'city'")],
        id="unit-kind-not-matching-scope",
    ),
    pytest.param(
        '[organizations]\nenrolment_scope = "branches"\n'
        + '[[organizations.units]]\ncode = "a"\nname = "甲"\n[[organizations.units]]\ncode = "a"\nname = "乙"',
        [("organizations.units[1].code", "a code used only once in this list", "'a'")],
        id="duplicate-unit-code",
    ),
    pytest.param(
        '[organizations]\nenrolment_scope = "cities_and_institutions"\n'
        + '[[organizations.units]]\ncode = "zhengzhou"\nname = "郑州市"\nkind = "city"',
        [
            (
                "organizations.institutions",
                "at least one training institution (enrolment_scope is cities_and_institutions)",
                "[]",
            )
        ],
        id="cities-scope-without-institutions",
    ),
    pytest.param(
        '[organizations]\nenrolment_scope = "cities_and_institutions"\n'
        + '[[organizations.units]]\ncode = "zhengzhou"\nname = "郑州市"\nkind = "city"\n'
        + '[[organizations.institutions]]\ncode = "a"\nname = "甲"\ncity_code = "luoyang"\n'
        + '[[organizations.institutions]]\ncode = "a"\nname = "乙"\ncity_code = "zhengzhou"',
        [
            ("organizations.institutions[1].code", "a code used only once in this list", "'a'"),
            ("organizations.institutions[0].city_code", "the code of a city unit (zhengzhou)", "'luoyang'"),
        ],
        id="institution-in-unknown-city-and-duplicate-code",
    ),
    # --- billing
    pytest.param(
        '[billing]\nchannels = ["wechat_native"]',
        [("billing.channels", "no payment channels when payer is none", "['wechat_native']")],
        id="channels-but-nobody-pays",
    ),
    pytest.param(
        '[billing]\npayer = "company"',
        [("billing.channels", "at least one payment channel (payer is company)", "[]")],
        id="payer-without-channels",
    ),
    pytest.param(
        '[billing]\npayer = "company"\nchannels = ["alipay_qr", "alipay_qr"]',
        [("billing.channels[1]", "a value listed only once", "'alipay_qr'")],
        id="duplicate-channel",
    ),
    pytest.param(
        '[billing]\npayer = "student"\nchannels = ["wechat_native", "wechat_jsapi"]',
        [
            (
                "billing.channels[1]",
                "a channel other than wechat_jsapi (it needs wechat_miniprogram in identity.person_login_methods)",
                "'wechat_jsapi'",
            )
        ],
        id="jsapi-without-mini-program-login",
    ),
    pytest.param(
        '[identity]\ncompany_login_methods = []\n[billing]\npayer = "company"\nchannels = ["wechat_native"]',
        [("billing.payer", "student or none (identity.company_login_methods is empty)", "'company'")],
        id="company-pays-without-companies",
    ),
    pytest.param(
        '[billing]\npayer = "company"\nchannels = ["wechat_native"]\n'
        + "[billing.offline_transfer]\nproof_required = true\ndeadline_hours = 24",
        [
            (
                "billing.offline_transfer.proof_required",
                "no offline transfer settings when offline_transfer is not in channels",
                "true",
            ),
            (
                "billing.offline_transfer.deadline_hours",
                "no offline transfer settings when offline_transfer is not in channels",
                "24",
            ),
        ],
        id="offline-settings-without-offline-channel",
    ),
    pytest.param(
        '[billing]\npayer = "company"\nchannels = ["offline_transfer"]',
        [
            (
                "billing.offline_transfer.bank_account_name",
                "a value (shown to payers making the transfer)",
                "nothing",
            ),
            (
                "billing.offline_transfer.bank_name",
                "a value (shown to payers making the transfer)",
                "nothing",
            ),
            (
                "billing.offline_transfer.account_number",
                "a value (shown to payers making the transfer)",
                "nothing",
            ),
        ],
        id="offline-channel-without-bank-account",
    ),
    pytest.param(
        COMPANY_PAYS_OFFLINE + "proof_suspends_deadline = true",
        [
            (
                "billing.offline_transfer.proof_suspends_deadline",
                "false when deadline_hours is 0 (no deadline)",
                "true",
            )
        ],
        id="proof-suspends-a-deadline-that-does-not-exist",
    ),
    pytest.param(
        COMPANY_PAYS_OFFLINE + "[billing.invoice_cap]\nstrict = true",
        [("billing.invoice_cap.strict", "false when cap_fen is 0 (no cap)", "true")],
        id="strict-invoice-cap-without-cap",
    ),
    pytest.param(
        COMPANY_PAYS_OFFLINE + '[billing.invoice_types]\nonline = ["electronic_normal"]',
        [
            (
                "billing.invoice_types.online",
                "no invoice types when no online channel is offered",
                "['electronic_normal']",
            )
        ],
        id="online-invoices-without-online-channel",
    ),
    pytest.param(
        '[billing]\npayer = "company"\nchannels = ["wechat_native"]\n[billing.invoice_types]\n'
        + 'online = ["electronic_normal"]\noffline_transfer = ["special_vat"]',
        [
            (
                "billing.invoice_types.offline_transfer",
                "no invoice types when offline_transfer is not in channels",
                "['special_vat']",
            )
        ],
        id="offline-invoices-without-offline-channel",
    ),
    pytest.param(
        '[billing]\npayer = "company"\nchannels = ["wechat_native"]\n[billing.invoice_types]\n'
        + 'online = ["electronic_normal", "electronic_normal"]',
        [("billing.invoice_types.online[1]", "a value listed only once", "'electronic_normal'")],
        id="duplicate-invoice-type",
    ),
    pytest.param(
        "[billing.refunds]\nenabled = true",
        [("billing.refunds.allowed_states", "at least one refundable state when refunds are enabled", "[]")],
        id="refunds-without-refundable-states",
    ),
    pytest.param(
        '[billing.refunds]\nenabled = true\nallowed_states = ["paid_not_attended"]',
        [("billing.refunds.enabled", "false when payer is none", "true")],
        id="refunds-when-nobody-pays",
    ),
    pytest.param(
        "[billing.refunds]\napproval_required = false",
        [("billing.refunds.second_person_approval", "false when approval_required is false", "true")],
        id="second-person-approval-without-approval",
    ),
    # --- membership
    pytest.param(
        "[membership]\nenabled = true",
        [
            ("membership.fee_per_year_fen", "an amount > 0 when membership is enabled", "0"),
            ("membership.period_years", "at least 1 year when membership is enabled", "0"),
        ],
        id="membership-without-fee-or-period",
    ),
    pytest.param(
        "[membership]\nenabled = true\nfee_per_year_fen = 20000\nperiod_years = 5",
        [("billing.payer", "someone who pays the membership fees (membership is enabled)", "'none'")],
        id="membership-fees-but-nobody-pays",
    ),
    pytest.param(
        '[membership]\nmembers_training_price = "free"',
        [("membership.members_training_price", "full when membership is disabled", "'free'")],
        id="member-price-without-membership",
    ),
    pytest.param(
        COMPANY_PAYS_OFFLINE
        + '[membership]\nenabled = true\nfee_per_year_fen = 20000\nperiod_years = 5\nmembers_training_price = "percent"',
        [
            (
                "membership.members_training_percent",
                "a percentage between 1 and 99 (use free or full otherwise)",
                "100",
            )
        ],
        id="member-percent-that-is-full-price",
    ),
    pytest.param(
        "[membership]\nelectronic_recommendation = true",
        [
            (
                "membership.electronic_recommendation",
                "false when company_recommendation_required is false",
                "true",
            )
        ],
        id="electronic-recommendation-without-recommendation",
    ),
    pytest.param(
        "[identity]\ncompany_login_methods = []\n[membership]\ncompany_recommendation_required = true",
        [
            (
                "membership.company_recommendation_required",
                "false when identity.company_login_methods is empty",
                "true",
            )
        ],
        id="company-recommendation-without-companies",
    ),
    # --- learning and certificates
    pytest.param(
        '[[certificates.kinds]]\ncode = "test_card"\nkind = "test_card"\ntitle = "测试证"\nnumbering_pattern = "SC{year}"',
        [
            (
                "certificates.kinds[0].numbering_pattern",
                "a pattern containing {seq} (for example 'SC{year}{seq:06d}')",
                "'SC{year}'",
            )
        ],
        id="numbering-without-seq",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "c"\ntitle = "合格证"\nnumbering_pattern = "{yr}{seq:06d}"',
        [
            (
                "certificates.kinds[0].numbering_pattern",
                "only the placeholders {year}, {seq}, {program}",
                "'{yr}{seq:06d}'",
            )
        ],
        id="numbering-with-unknown-placeholder",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "c"\ntitle = "合格证"\nnumbering_pattern = "HA{seq:06d"',
        [
            (
                "certificates.kinds[0].numbering_pattern",
                "a str.format pattern with balanced braces",
                "'HA{seq:06d'",
            )
        ],
        id="numbering-with-unbalanced-brace",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "c"\ntitle = "甲"\n[[certificates.kinds]]\ncode = "c"\ntitle = "乙"',
        [("certificates.kinds[1].code", "a code used only once in this list", "'c'")],
        id="duplicate-certificate-kind",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "test_card"\nkind = "test_card"\ntitle = "测试证"\n'
        + 'condition = "after_learning_completion"',
        [
            (
                "certificates.kinds[0].condition",
                "a condition other than after_learning_completion (learning is disabled)",
                "'after_learning_completion'",
            )
        ],
        id="certificate-after-learning-without-learning",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "card"\nkind = "attendance_card"\ntitle = "听课证"\ncondition = "after_payment"',
        [
            (
                "certificates.kinds[0].condition",
                "a condition other than after_payment (billing.payer is none)",
                "'after_payment'",
            )
        ],
        id="certificate-after-payment-when-nobody-pays",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "member"\nkind = "membership"\ntitle = "会员证"',
        [
            (
                "certificates.kinds[0].kind",
                "a kind other than membership (membership is disabled)",
                "'membership'",
            )
        ],
        id="membership-certificate-without-membership",
    ),
    pytest.param(
        '[[certificates.kinds]]\ncode = "c"\ntitle = "合格证"\nprograms = ["nope"]',
        [("certificates.kinds[0].programs[0]", "the code of one of the programs (none defined)", "'nope'")],
        id="certificate-for-unknown-program",
    ),
    pytest.param(
        "[learning]\ncompletion_required_before_test_card = true",
        [("learning.completion_required_before_test_card", "false when learning is disabled", "true")],
        id="completion-gate-without-learning",
    ),
    pytest.param(
        "[learning]\nenabled = true\ncompletion_required_before_test_card = true",
        [
            (
                "learning.completion_required_before_test_card",
                "false unless a test_card certificate kind has condition after_learning_completion",
                "true",
            )
        ],
        id="completion-gate-without-test-card",
    ),
    pytest.param(
        "[certificates.exams]\nmax_score = 100\npass_score = 120",
        [("certificates.exams.pass_score", "at most max_score (100)", "120")],
        id="pass-score-above-max",
    ),
    pytest.param(
        "[certificates.continuing_education]\nenabled = true",
        [
            (
                "certificates.continuing_education.cycle_years",
                "at least 1 year when continuing education is enabled",
                "0",
            )
        ],
        id="continuing-education-without-cycle",
    ),
    pytest.param(
        "[certificates.continuing_education]\nenabled = true\ncycle_years = 3",
        [
            (
                "certificates.continuing_education.enabled",
                "false unless a program has kind continuing_education",
                "true",
            )
        ],
        id="continuing-education-without-program",
    ),
    pytest.param(
        "[certificates.continuing_education]\nenabled = true\ncycle_years = 3\nkeyed_by_certificate_number = true",
        [
            (
                "certificates.continuing_education.keyed_by_certificate_number",
                "false when registry_enabled is false (the certificate numbers live in the registry)",
                "true",
            )
        ],
        id="certificate-number-key-without-registry",
    ),
]


@pytest.mark.parametrize(("text", "problems"), CONTRADICTIONS)
def test_contradictory_rules_are_refused_at_the_offending_key(
    text: str, problems: list[tuple[str, str, str]]
) -> None:
    assert refused(text) == problems


def test_every_problem_of_a_section_is_reported_not_just_the_first() -> None:
    text = '[billing]\npayer = "none"\nchannels = ["wechat_native", "wechat_native"]\n[billing.invoice_cap]\nstrict = true\n'

    assert refused(text) == [
        ("billing.channels[1]", "a value listed only once", "'wechat_native'"),
        ("billing.channels", "no payment channels when payer is none", "['wechat_native', 'wechat_native']"),
        ("billing.invoice_cap.strict", "false when cap_fen is 0 (no cap)", "true"),
    ]


# ---------------------------------------------------------------------------------------------------------
# manage.py tenant_config
# ---------------------------------------------------------------------------------------------------------


def run_command(*arguments: str) -> tuple[str, str, CommandError | None]:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command(Command(), *arguments, stdout=stdout, stderr=stderr)
    except CommandError as error:
        return stdout.getvalue(), stderr.getvalue(), error
    return stdout.getvalue(), stderr.getvalue(), None


def test_check_command_accepts_the_five_files() -> None:
    paths = [str(RULES_DIR / f"{tenant}.toml") for tenant in TENANTS]

    stdout, stderr, error = run_command("check", *paths)

    assert error is None
    assert stdout.splitlines() == [f"OK {path}" for path in paths]
    assert stderr == ""


def test_check_command_prints_every_problem_and_fails(tmp_path: Path) -> None:
    good = str(RULES_DIR / "gansu.toml")
    bad = tmp_path / "typo.toml"
    bad.write_text('[billing]\npayer = "company"\nchanels = ["wechat_native"]\n', encoding="utf-8")

    stdout, stderr, error = run_command("check", good, str(bad))

    assert error is not None
    assert error.returncode == 1
    assert str(error) == "1 of 2 rules files refused"
    assert stdout.splitlines() == [f"OK {good}"]
    allowed = (
        "payer, channels, currency, online_payment_deadline_hours, offline_transfer, invoice_cap, split, "
        "invoice_types, refunds, receipt_email_required"
    )
    assert stderr.splitlines() == [
        f"{bad}: billing.chanels: expected no such key (allowed: {allowed}), found chanels"
    ]


def test_show_command_prints_the_normalised_file() -> None:
    stdout, stderr, error = run_command("show", str(RULES_DIR / "shanghai.toml"))

    assert error is None
    assert stderr == ""
    assert stdout == rules_to_toml(rules_of("shanghai"))
    assert load_rules_text(stdout) == rules_of("shanghai")

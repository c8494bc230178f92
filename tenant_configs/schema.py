"""The typed rules of one association (tenant).

Pure pydantic, no Django import: the engines (`registration.rules`, `billing.split`, ...) and their tests use
these models without a database.

Conventions, and why:
- every model forbids unknown keys, so a typo in a rules file is refused instead of silently ignored;
- every model is frozen and holds tuples rather than lists, so one parsed `Rules` object can be shared
  between requests (and hashed) without anyone mutating it;
- every field has a default, so an empty file is a valid (if minimal) association; what is really needed
  for onboarding (the slug) is checked by the loader with `require_identity=True`;
- money is integer fen (`StrictInt`, >= 0): `100.0` or `"100"` in a rules file is refused, never rounded;
- cross-field checks raise `RulesContradiction`, which carries the key path of the offending field relative
  to the model that found it, so the loader can report `programs[0].review_chain[1]` rather than just
  "programs[0] is wrong".
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

# ---------------------------------------------------------------------------------------------------------
# Contradictions: how cross-field checks report the offending field
# ---------------------------------------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def format_key_path(path: Sequence[str | int]) -> str:
    """('programs', 0, 'documents', 1, 'max_kb') -> 'programs[0].documents[1].max_kb'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _render(value: Any) -> str:
    # Close to TOML spelling, so the author recognises what they wrote: 'text', true, [1, 2], {a = 1}.
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_render(item)}" for key, item in value.items()) + "}"
    return repr(value)


def show_value(value: Any, *, limit: int = 120) -> str:
    """How a found value is shown in a problem line, shortened to `limit` characters."""
    text = _render(_plain(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


NOTHING = "nothing"  # what a problem line says was found where a value is missing


@dataclass(frozen=True)
class Contradiction:
    """One refused combination: `path` is relative to the model that raised it."""

    path: KeyPath
    expected: str
    found: str


class RulesContradiction(ValueError):
    """Raised by the cross-field validators. pydantic wraps it; the loader unwraps `contradictions`."""

    def __init__(self, contradictions: Iterable[Contradiction]):
        self.contradictions = tuple(contradictions)
        super().__init__(
            "; ".join(
                f"{format_key_path(item.path)}: expected {item.expected}, found {item.found}"
                for item in self.contradictions
            )
        )


class _Findings:
    """Collects every contradiction of one model, so a file with three mistakes reports all three."""

    def __init__(self) -> None:
        self.items: list[Contradiction] = []

    def add(self, path: KeyPath, expected: str, found: Any = NOTHING) -> None:
        """`found` is the offending value (rendered by `show_value`); omitted, the value is missing."""
        text = NOTHING if found is NOTHING else show_value(found)
        self.items.append(Contradiction(path=path, expected=expected, found=text))

    def require(self, model: BaseModel, *names: str) -> None:
        """Text fields that identify or label a list item must not be empty."""
        for name in names:
            if getattr(model, name) == "":
                self.add((name,), "a value")

    def unique(self, items: Sequence[Any], attribute: str, list_path: KeyPath) -> None:
        seen: set[Any] = set()
        for index, item in enumerate(items):
            value = getattr(item, attribute)
            if value == "":
                continue  # the item itself reports the missing value
            if value in seen:
                self.add((*list_path, index, attribute), f"a {attribute} used only once in this list", value)
            seen.add(value)

    def unique_values(self, values: Sequence[Any], list_path: KeyPath) -> None:
        seen: set[Any] = set()
        for index, value in enumerate(values):
            if value in seen:
                self.add((*list_path, index), "a value listed only once", value)
            seen.add(value)

    def raise_if_any(self) -> None:
        if self.items:
            raise RulesContradiction(self.items)


class RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------
# Scalar types
# ---------------------------------------------------------------------------------------------------------

Fen = Annotated[StrictInt, Field(ge=0)]
"""Money in fen (1 CNY = 100 fen). Never a float."""

Count = Annotated[StrictInt, Field(ge=0)]
PositiveCount = Annotated[StrictInt, Field(ge=1)]
Code = Annotated[StrictStr, Field(pattern=r"^([a-z0-9][a-z0-9_\-]{0,40})?$")]
"""Machine key of a list item: lowercase letters, digits, `_` and `-`. Empty is reported as missing."""
Text = StrictStr
PixelSize = tuple[Annotated[StrictInt, Field(ge=1, le=20000)], Annotated[StrictInt, Field(ge=1, le=20000)]]


# ---------------------------------------------------------------------------------------------------------
# Closed value sets
# ---------------------------------------------------------------------------------------------------------


class PersonLoginMethod(StrEnum):
    PHONE_SMS = "phone_sms"
    PHONE_PASSWORD = "phone_password"
    ID_NUMBER_PASSWORD = "id_number_password"
    WECHAT_MINIPROGRAM = "wechat_miniprogram"


class CompanyLoginMethod(StrEnum):
    USCC_PASSWORD = "uscc_password"
    COMPANY_NAME_PASSWORD = "company_name_password"
    PHONE_PASSWORD = "phone_password"


class CompanyAccountCreation(StrEnum):
    SELF_REGISTRATION = "self_registration"
    ISSUED_BY_ASSOCIATION = "issued_by_association"


class RealNameVerification(StrEnum):
    NONE = "none"
    REQUIRED_BEFORE_ENROLMENT = "required_before_enrolment"


class ProfileFieldSet(StrEnum):
    BASIC = "basic"
    FULL_PERSONNEL = "full_personnel"


class ProfileField(StrEnum):
    """Attributes of a person's profile; locks and form fields refer to them by these keys."""

    NAME = "name"
    GENDER = "gender"
    ID_TYPE = "id_type"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    COMPANY_NAME = "company_name"
    PHOTO = "photo"
    BIRTH_DATE = "birth_date"
    EDUCATION = "education"
    ETHNICITY = "ethnicity"
    POLITICAL_STATUS = "political_status"
    WORK_START_DATE = "work_start_date"
    PROFESSIONAL_TITLE = "professional_title"
    SPECIALTY = "specialty"
    POSITION = "position"
    ACADEMICIAN_OR_MASTER = "academician_or_master"
    POSTCODE = "postcode"
    REMARK = "remark"
    PRACTICE_CERTIFICATES = "practice_certificates"
    QQ = "qq"


PROFILE_FIELD_LABELS: dict[ProfileField, str] = {
    ProfileField.NAME: "姓名",
    ProfileField.GENDER: "性别",
    ProfileField.ID_TYPE: "证件类型",
    ProfileField.ID_NUMBER: "身份证号",
    ProfileField.PHONE: "手机号",
    ProfileField.EMAIL: "电子邮箱",
    ProfileField.ADDRESS: "通讯地址",
    ProfileField.COMPANY_NAME: "单位名称",
    ProfileField.PHOTO: "证件照",
    ProfileField.BIRTH_DATE: "出生年月",
    ProfileField.EDUCATION: "学历",
    ProfileField.ETHNICITY: "民族",
    ProfileField.POLITICAL_STATUS: "政治面貌",
    ProfileField.WORK_START_DATE: "参加工作时间",
    ProfileField.PROFESSIONAL_TITLE: "职称",
    ProfileField.SPECIALTY: "从事专业",
    ProfileField.POSITION: "职务",
    ProfileField.ACADEMICIAN_OR_MASTER: "院士/大师",
    ProfileField.POSTCODE: "邮编",
    ProfileField.REMARK: "备注",
    ProfileField.PRACTICE_CERTIFICATES: "执业资格证书",
    ProfileField.QQ: "QQ号",
}

PROFILE_FIELD_SETS: dict[ProfileFieldSet, tuple[ProfileField, ...]] = {
    ProfileFieldSet.BASIC: (
        ProfileField.NAME,
        ProfileField.GENDER,
        ProfileField.ID_NUMBER,
        ProfileField.PHONE,
        ProfileField.EMAIL,
        ProfileField.ADDRESS,
        ProfileField.COMPANY_NAME,
        ProfileField.PHOTO,
    ),
    # The personnel record a Shanghai company keeps for each of its people (单位人员管理 → 单独添加学员).
    ProfileFieldSet.FULL_PERSONNEL: (
        ProfileField.NAME,
        ProfileField.GENDER,
        ProfileField.ID_TYPE,
        ProfileField.ID_NUMBER,
        ProfileField.PHONE,
        ProfileField.EMAIL,
        ProfileField.BIRTH_DATE,
        ProfileField.EDUCATION,
        ProfileField.ETHNICITY,
        ProfileField.POLITICAL_STATUS,
        ProfileField.WORK_START_DATE,
        ProfileField.PROFESSIONAL_TITLE,
        ProfileField.SPECIALTY,
        ProfileField.POSITION,
        ProfileField.ACADEMICIAN_OR_MASTER,
        ProfileField.POSTCODE,
        ProfileField.COMPANY_NAME,
        ProfileField.ADDRESS,
        ProfileField.REMARK,
        ProfileField.PHOTO,
        ProfileField.PRACTICE_CERTIFICATES,
    ),
}


class EnrolmentScopeKind(StrEnum):
    NONE = "none"
    BRANCHES = "branches"
    REGIONS = "regions"
    CITIES_AND_INSTITUTIONS = "cities_and_institutions"


class UnitKind(StrEnum):
    BRANCH = "branch"
    REGION = "region"
    CITY = "city"


UNIT_KIND_FOR_SCOPE: dict[EnrolmentScopeKind, UnitKind] = {
    EnrolmentScopeKind.BRANCHES: UnitKind.BRANCH,
    EnrolmentScopeKind.REGIONS: UnitKind.REGION,
    EnrolmentScopeKind.CITIES_AND_INSTITUTIONS: UnitKind.CITY,
}


class ProgramKind(StrEnum):
    JOB_TRAINING = "job_training"
    NEW_CERTIFICATE = "new_certificate"
    CONTINUING_EDUCATION = "continuing_education"
    EXAM_ONLY = "exam_only"


class EnrolmentChannel(StrEnum):
    COMPANY_ONLY = "company_only"
    SELF_ONLY = "self_only"
    SELF_WITH_COMPANY_CONFIRMATION = "self_with_company_confirmation"
    BOTH = "both"


class FieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    DATE = "date"
    ADDRESS = "address"
    FILE = "file"
    YES_NO = "yes_no"
    NUMBER = "number"
    EMAIL = "email"
    PHONE = "phone"


CHOICE_FIELD_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE})
YES_NO_VALUES = ("yes", "no")


class ChoicesSource(StrEnum):
    """Where a choice field's options come from: written in the rules, or the tenant's data."""

    INLINE = "inline"
    SESSIONS = "sessions"  # 期次/班次 opened by staff in the console
    UNITS = "units"  # organizations.units
    INSTITUTIONS = "institutions"  # organizations.institutions


class DocumentFormat(StrEnum):
    JPG = "jpg"
    PNG = "png"
    PDF = "pdf"


IMAGE_FORMATS = frozenset({DocumentFormat.JPG, DocumentFormat.PNG})


class PledgeSigner(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class PledgeStage(StrEnum):
    APPLICATION = "application"  # accepted while applying (个人承诺书, 告知承诺书)
    PAYMENT = "payment"  # accepted by the payer before paying (委托培训协议, 企业承诺书)


class ReviewStep(StrEnum):
    COMPANY = "company"
    INSTITUTION = "institution"
    ASSOCIATION = "association"


REVIEW_ORDER: tuple[ReviewStep, ...] = (ReviewStep.COMPANY, ReviewStep.INSTITUTION, ReviewStep.ASSOCIATION)


class MaterialsPolicy(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED_SHIPPED = "required_shipped"


class Withdrawal(StrEnum):
    """Until when an applicant may withdraw (delete) an application."""

    NEVER = "never"
    BEFORE_FIRST_REVIEW = "before_first_review"
    BEFORE_PAYMENT = "before_payment"


class Payer(StrEnum):
    COMPANY = "company"
    STUDENT = "student"
    COMPANY_OR_STUDENT = "company_or_student"
    NONE = "none"


class PaymentChannel(StrEnum):
    WECHAT_NATIVE = "wechat_native"
    WECHAT_JSAPI = "wechat_jsapi"
    ALIPAY_PAGE = "alipay_page"
    ALIPAY_QR = "alipay_qr"
    STRIPE = "stripe"
    OFFLINE_TRANSFER = "offline_transfer"


class InvoiceCapBasis(StrEnum):
    TAX_INCLUSIVE = "tax_inclusive"
    TAX_EXCLUSIVE = "tax_exclusive"


class InvoiceType(StrEnum):
    ELECTRONIC_NORMAL = "electronic_normal"  # 增值税电子普通发票
    PAPER_NORMAL = "paper_normal"  # 增值税普通发票（纸质）
    SPECIAL_VAT = "special_vat"  # 增值税专用发票


class RefundableState(StrEnum):
    PAID_NOT_ATTENDED = "paid_not_attended"  # 已支付但未报到
    PAID_BEFORE_SESSION_START = "paid_before_session_start"  # 已支付，开班之前


class MembersTrainingPrice(StrEnum):
    FULL = "full"
    FREE = "free"
    PERCENT = "percent"


class CertificateKind(StrEnum):
    TEST_CARD = "test_card"
    ADMISSION_TICKET = "admission_ticket"
    ATTENDANCE_CARD = "attendance_card"
    QUALIFICATION = "qualification"
    MEMBERSHIP = "membership"
    TRAINING = "training"


class CertificateCondition(StrEnum):
    AFTER_APPROVAL = "after_approval"  # the review chain approved the application (no payment involved)
    AFTER_PAYMENT = "after_payment"
    AFTER_LEARNING_COMPLETION = "after_learning_completion"
    AFTER_PAYMENT_APPROVAL = "after_payment_approval"  # finance confirmed the (offline) payment
    AFTER_PASS_AND_REVIEW = "after_pass_and_review"
    AFTER_MEMBERSHIP_PAYMENT = "after_membership_payment"


PAYMENT_CONDITIONS = frozenset(
    {CertificateCondition.AFTER_PAYMENT, CertificateCondition.AFTER_PAYMENT_APPROVAL}
)
NUMBERING_PLACEHOLDERS = ("year", "seq", "program")


# ---------------------------------------------------------------------------------------------------------
# association, branding
# ---------------------------------------------------------------------------------------------------------

SLUG_PATTERN = r"^([a-z][a-z0-9_]{1,30})?$"
"""Lowercase slug, also the schema name and subdomain. Empty only until onboarding (the loader's
`require_identity=True` refuses it)."""


class AssociationRules(RulesModel):
    slug: StrictStr = Field("", pattern=SLUG_PATTERN, description="协会标识（子域名与数据库 schema 名）")
    name: Text = Field("", description="协会全称")
    short_name: Text = Field("", description="简称")
    province: Text = Field("", description="省份")
    contact_phone: Text = Field("", description="联系电话")
    contact_email: Text = Field("", description="联系邮箱")
    address: Text = Field("", description="地址")
    website: Text = Field("", description="原系统网址（仅供参考）")


class BrandingRules(RulesModel):
    site_title: Text = Field("", description="站点标题")
    primary_color: StrictStr = Field("#1f5fa8", pattern=r"^#[0-9a-fA-F]{6}$", description="主色（#rrggbb）")
    logo_text: Text = Field("", description="标志文字")
    footer_text: Text = Field("", description="页脚文字")
    home_notice: Text = Field("", description="首页公告")


# ---------------------------------------------------------------------------------------------------------
# documents (upload specs) — used by identity, programs and membership
# ---------------------------------------------------------------------------------------------------------


class DocumentSpec(RulesModel):
    """An upload and the checks it must pass (format, pixel size, file size, colour, background)."""

    key: Code = Field("", description="资料标识")
    label: Text = Field("", description="资料名称")
    required: StrictBool = Field(True, description="是否必传")
    formats: tuple[DocumentFormat, ...] = Field(
        (DocumentFormat.JPG, DocumentFormat.PNG), description="允许格式"
    )
    allowed_pixel_sizes: tuple[PixelSize, ...] = Field(
        (),
        description="允许的像素尺寸（宽×高）列表，如 [[295, 413], [658, 926]]；为空则不限或按最小/最大尺寸",
    )
    min_width: Count = Field(0, description="最小宽度（像素，0 不限）")
    min_height: Count = Field(0, description="最小高度（像素，0 不限）")
    max_width: Count = Field(0, description="最大宽度（像素，0 不限）")
    max_height: Count = Field(0, description="最大高度（像素，0 不限）")
    max_kb: Annotated[StrictInt, Field(ge=1, le=20480)] = Field(2048, description="文件大小上限（KB）")
    white_background: StrictBool = Field(False, description="要求白底")
    color_required: StrictBool = Field(False, description="要求彩色")
    template_note: Text = Field("", description="模板或填写说明")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "key", "label")
        if not self.formats:
            findings.add(("formats",), "at least one format", [])
        findings.unique_values(self.formats, ("formats",))
        has_range = any((self.min_width, self.min_height, self.max_width, self.max_height))
        if self.allowed_pixel_sizes and has_range:
            findings.add(
                ("allowed_pixel_sizes",),
                "either exact pixel sizes or min/max sizes, not both",
                self.allowed_pixel_sizes,
            )
        for low, high in (("min_width", "max_width"), ("min_height", "max_height")):
            if getattr(self, high) and getattr(self, low) > getattr(self, high):
                findings.add((low,), f"at most {high} ({getattr(self, high)})", getattr(self, low))
        image_checks = self.allowed_pixel_sizes or has_range or self.white_background or self.color_required
        if self.formats and image_checks and not IMAGE_FORMATS.intersection(self.formats):
            findings.add(
                ("formats",),
                "an image format (jpg or png) for pixel, colour or background checks",
                self.formats,
            )
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# identity
# ---------------------------------------------------------------------------------------------------------


class IdentityRules(RulesModel):
    person_login_methods: tuple[PersonLoginMethod, ...] = Field(
        (PersonLoginMethod.PHONE_PASSWORD,), description="个人登录方式"
    )
    company_login_methods: tuple[CompanyLoginMethod, ...] = Field(
        (CompanyLoginMethod.USCC_PASSWORD,), description="企业登录方式（为空表示没有企业账户）"
    )
    registration_requires_sms: StrictBool = Field(True, description="注册须验证手机短信")
    company_account_creation: CompanyAccountCreation = Field(
        CompanyAccountCreation.SELF_REGISTRATION, description="企业账户开通方式：自行注册 / 协会分配"
    )
    company_documents: tuple[DocumentSpec, ...] = Field((), description="企业须上传的资料（如营业执照）")
    real_name_verification: RealNameVerification = Field(
        RealNameVerification.NONE, description="个人实名认证"
    )
    person_login_requires_company_approval: StrictBool = Field(
        False, description="个人注册后须经所在企业审核才能登录"
    )
    profile_field_set: ProfileFieldSet = Field(ProfileFieldSet.BASIC, description="个人资料字段集")
    extra_profile_fields: tuple[ProfileField, ...] = Field((), description="在字段集之外增加的资料字段")
    locked_on_submit: tuple[ProfileField, ...] = Field((), description="提交（注册）后本人不可修改的字段")
    locked_on_enrolment: tuple[ProfileField, ...] = Field((), description="首次报名后本人不可修改的字段")
    profile_photo: DocumentSpec | None = Field(None, description="个人证件照要求")
    photo_review_by_staff: StrictBool = Field(False, description="证件照须经协会确认（不合格退回重传）")
    bulk_photo_name_pattern: Text = Field(
        "{name}-{id_number}", description="企业批量上传照片（zip）时的文件名格式，不含扩展名"
    )
    one_account_per_phone: StrictBool = Field(True, description="每个手机号只能注册一个账户")
    one_account_per_id_number: StrictBool = Field(True, description="每个身份证号只能注册一个账户")
    password_min_length: Annotated[StrictInt, Field(ge=6, le=64)] = Field(8, description="密码最短长度")

    @property
    def companies_enabled(self) -> bool:
        """A tenant without company login methods has no company accounts at all (miniapp, henan)."""
        return bool(self.company_login_methods)

    def profile_fields(self) -> tuple[ProfileField, ...]:
        base = PROFILE_FIELD_SETS[self.profile_field_set]
        return base + tuple(field for field in self.extra_profile_fields if field not in base)

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if not self.person_login_methods:
            findings.add(("person_login_methods",), "at least one person login method", [])
        findings.unique_values(self.person_login_methods, ("person_login_methods",))
        findings.unique_values(self.company_login_methods, ("company_login_methods",))
        findings.unique_values(self.extra_profile_fields, ("extra_profile_fields",))
        findings.unique(self.company_documents, "key", ("company_documents",))
        if self.company_documents and not self.companies_enabled:
            findings.add(
                ("company_documents",),
                "no company documents when there are no company logins",
                self.company_documents,
            )
        if self.person_login_requires_company_approval and not self.companies_enabled:
            findings.add(
                ("person_login_requires_company_approval",),
                "false when there are no company login methods",
                True,
            )
        available = self.profile_fields()
        for list_name in ("locked_on_submit", "locked_on_enrolment"):
            locked: tuple[ProfileField, ...] = getattr(self, list_name)
            findings.unique_values(locked, (list_name,))
            for index, field in enumerate(locked):
                if field not in available:
                    findings.add(
                        (list_name, index),
                        f"a field of the profile ({', '.join(available)})",
                        field,
                    )
        if self.photo_review_by_staff and self.profile_photo is None:
            findings.add(("photo_review_by_staff",), "false when no profile_photo is defined", True)
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# organizations
# ---------------------------------------------------------------------------------------------------------


class Unit(RulesModel):
    """A sub-unit used as enrolment scope: 分会 (branch), 地区 (region) or 地市 (city)."""

    code: Code = Field("", description="编码")
    name: Text = Field("", description="名称")
    kind: UnitKind = Field(UnitKind.BRANCH, description="类型：分会 / 地区 / 地市")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "code", "name")
        findings.raise_if_any()
        return self


class TrainingInstitution(RulesModel):
    code: Code = Field("", description="编码")
    name: Text = Field("", description="培训机构名称")
    city_code: Code = Field("", description="所属地市编码（organizations.units 中 kind = city 的单位）")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "code", "name", "city_code")
        findings.raise_if_any()
        return self


class OrganizationRules(RulesModel):
    enrolment_scope: EnrolmentScopeKind = Field(
        EnrolmentScopeKind.NONE, description="报名范围：无 / 分会 / 地区 / 地市+培训机构"
    )
    units: tuple[Unit, ...] = Field((), description="分会、地区或地市")
    institutions: tuple[TrainingInstitution, ...] = Field((), description="培训机构")
    person_must_belong_to_company: StrictBool = Field(False, description="个人须加入企业才能报名")
    company_join_approval_required: StrictBool = Field(False, description="个人加入企业须经企业审核")
    company_must_join_unit: StrictBool = Field(
        False, description="企业须申请加入分会后才能为其人员报名该分会的培训"
    )
    company_manages_people: StrictBool = Field(
        False, description="企业可直接添加、绑定已注册学员或批量导入人员（Excel）并批量上传照片"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.unique(self.units, "code", ("units",))
        findings.unique(self.institutions, "code", ("institutions",))
        wanted_kind = UNIT_KIND_FOR_SCOPE.get(self.enrolment_scope)
        if wanted_kind is None:
            if self.units:
                findings.add(
                    ("units",), "no units when enrolment_scope is none", [unit.code for unit in self.units]
                )
        else:
            if not self.units:
                findings.add(
                    ("units",),
                    f"at least one unit of kind {wanted_kind} (enrolment_scope is {self.enrolment_scope})",
                    [],
                )
            for index, unit in enumerate(self.units):
                if unit.kind != wanted_kind:
                    findings.add(
                        ("units", index, "kind"),
                        f"{wanted_kind} (enrolment_scope is {self.enrolment_scope})",
                        unit.kind,
                    )
        if self.enrolment_scope == EnrolmentScopeKind.CITIES_AND_INSTITUTIONS and not self.institutions:
            findings.add(
                ("institutions",),
                "at least one training institution (enrolment_scope is cities_and_institutions)",
                [],
            )
        city_codes = {unit.code for unit in self.units if unit.kind == UnitKind.CITY}
        for index, institution in enumerate(self.institutions):
            if institution.city_code and institution.city_code not in city_codes:
                findings.add(
                    ("institutions", index, "city_code"),
                    f"the code of a city unit ({', '.join(sorted(city_codes)) or 'none defined'})",
                    institution.city_code,
                )
        if self.company_must_join_unit and not self.units:
            findings.add(("company_must_join_unit",), "false when there are no units", True)
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# programs
# ---------------------------------------------------------------------------------------------------------


class Choice(RulesModel):
    value: Code = Field("", description="取值")
    label: Text = Field("", description="显示文字")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "value", "label")
        findings.raise_if_any()
        return self


class FieldCondition(RulesModel):
    """Show a field only when an earlier choice / yes-no field has a given value."""

    field: Code = Field("", description="前面某个选择题字段的 key")
    equals: StrictStr = Field("", description="该字段取此值时显示")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "field", "equals")
        findings.raise_if_any()
        return self


class FormField(RulesModel):
    key: Code = Field("", description="字段标识")
    label: Text = Field("", description="字段名称")
    type: FieldType = Field(FieldType.TEXT, description="类型")
    required: StrictBool = Field(True, description="必填")
    choices: tuple[Choice, ...] = Field((), description="选项（choices_source = inline 时）")
    choices_source: ChoicesSource = Field(
        ChoicesSource.INLINE, description="选项来源：规则内 / 期次 / 单位 / 培训机构"
    )
    document: Code = Field("", description="file 类型字段对应的资料（documents 中的 key）")
    profile_field: ProfileField | None = Field(None, description="对应的个人资料字段（预填并按锁定规则只读）")
    shown_if: FieldCondition | None = Field(None, description="显示条件")
    help: Text = Field("", description="填写提示")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "key", "label")
        is_choice = self.type in CHOICE_FIELD_TYPES
        if is_choice and self.choices_source == ChoicesSource.INLINE and not self.choices:
            findings.add(("choices",), f"at least one choice for a {self.type} field", [])
        if not is_choice and self.choices:
            findings.add(
                ("choices",), f"no choices for a {self.type} field", [choice.value for choice in self.choices]
            )
        if not is_choice and self.choices_source != ChoicesSource.INLINE:
            findings.add(("choices_source",), f"inline for a {self.type} field", self.choices_source)
        if is_choice and self.choices_source != ChoicesSource.INLINE and self.choices:
            findings.add(
                ("choices",),
                f"no inline choices when choices_source is {self.choices_source}",
                [c.value for c in self.choices],
            )
        findings.unique(self.choices, "value", ("choices",))
        if self.type == FieldType.FILE and not self.document:
            findings.add(("document",), "the key of one of this program's documents (type is file)")
        if self.type != FieldType.FILE and self.document:
            findings.add(("document",), f"no document for a {self.type} field", self.document)
        findings.raise_if_any()
        return self


class Pledge(RulesModel):
    """A text the applicant or the paying company must accept; the accepted version is recorded."""

    key: Code = Field("", description="标识")
    title: Text = Field("", description="标题，如 个人承诺书")
    version: PositiveCount = Field(1, description="版本号（修改正文时加一）")
    signer: PledgeSigner = Field(PledgeSigner.PERSON, description="由个人或企业确认")
    stage: PledgeStage = Field(PledgeStage.APPLICATION, description="报名时 / 缴费前确认")
    text: Text = Field("", description="正文")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "key", "title", "text")
        findings.raise_if_any()
        return self


class WizardStep(RulesModel):
    """One page of a step-by-step application; names the fields, documents and pledges shown on it."""

    key: Code = Field("", description="步骤标识")
    title: Text = Field("", description="步骤标题")
    fields: tuple[Code, ...] = Field((), description="本步骤的字段 key")
    documents: tuple[Code, ...] = Field((), description="本步骤上传的资料 key")
    pledges: tuple[Code, ...] = Field((), description="本步骤确认的承诺书 key")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "key", "title")
        findings.raise_if_any()
        return self


class ProgramPrice(RulesModel):
    fee_fen: Fen = Field(0, description="培训费（分）")
    materials_fee_fen: Fen = Field(0, description="培训资料费（分）")
    materials_policy: MaterialsPolicy = Field(
        MaterialsPolicy.NONE, description="培训资料：无 / 自愿选购 / 必须（快递寄送）"
    )

    @property
    def total_with_materials_fen(self) -> int:
        return self.fee_fen + self.materials_fee_fen

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if self.materials_policy == MaterialsPolicy.OPTIONAL and self.materials_fee_fen == 0:
            findings.add(("materials_fee_fen",), "an amount > 0 when materials_policy is optional", 0)
        if self.materials_policy == MaterialsPolicy.NONE and self.materials_fee_fen > 0:
            findings.add(("materials_fee_fen",), "0 when materials_policy is none", self.materials_fee_fen)
        findings.raise_if_any()
        return self


class ProgramRules(RulesModel):
    """A program template (培训项目); sessions (期次/班次) with dates and seats are created by staff."""

    code: Code = Field("", description="项目编码")
    name: Text = Field("", description="项目名称")
    kind: ProgramKind = Field(ProgramKind.JOB_TRAINING, description="类型")
    description: Text = Field("", description="说明")
    channel: EnrolmentChannel = Field(EnrolmentChannel.SELF_ONLY, description="报名渠道")
    unit_codes: tuple[Code, ...] = Field((), description="开设该项目的单位（为空表示全部）")
    members_only: StrictBool = Field(False, description="仅会员（含企业已推荐的新会员）可报名")
    one_enrolment_per_person: StrictBool = Field(
        True, description="同一项目每人只能报名一次（无论企业报名还是个人报名）"
    )
    wizard_steps: tuple[WizardStep, ...] = Field((), description="分步报名的步骤（为空则为单页表单）")
    fields: tuple[FormField, ...] = Field((), description="报名表字段")
    documents: tuple[DocumentSpec, ...] = Field((), description="须上传的资料")
    pledges: tuple[Pledge, ...] = Field((), description="须确认的承诺书")
    review_chain: tuple[ReviewStep, ...] = Field((), description="审核链（为空则自动通过）")
    company_may_edit: StrictBool = Field(False, description="企业审核时可修改报名资料")
    resubmit_after_rejection: StrictBool = Field(True, description="审核不通过后可修改并重新提交")
    withdrawal: Withdrawal = Field(Withdrawal.BEFORE_FIRST_REVIEW, description="可撤回（删除）报名的时限")
    price: ProgramPrice = Field(ProgramPrice(), description="价格")
    waiting_list: StrictBool = Field(False, description="名额满后可排队候补")
    requires_real_name: StrictBool = Field(False, description="须已通过实名认证")
    requires_photo: StrictBool = Field(False, description="须已上传证件照")

    def field(self, key: str) -> FormField:
        for candidate in self.fields:
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "code", "name")
        findings.unique(self.fields, "key", ("fields",))
        findings.unique(self.documents, "key", ("documents",))
        findings.unique(self.pledges, "key", ("pledges",))
        findings.unique(self.wizard_steps, "key", ("wizard_steps",))
        findings.unique_values(self.unit_codes, ("unit_codes",))
        self._check_review_chain(findings)
        self._check_field_references(findings)
        self._check_wizard(findings)
        findings.raise_if_any()
        return self

    def _check_review_chain(self, findings: _Findings) -> None:
        findings.unique_values(self.review_chain, ("review_chain",))
        positions = [REVIEW_ORDER.index(step) for step in self.review_chain]
        for index in range(1, len(positions)):
            if positions[index] < positions[index - 1]:
                findings.add(
                    ("review_chain", index),
                    f"steps in the order {' → '.join(REVIEW_ORDER)}",
                    self.review_chain[index],
                )
        has_company_step = ReviewStep.COMPANY in self.review_chain
        if self.channel == EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION and not has_company_step:
            findings.add(
                ("review_chain",),
                "a review chain containing 'company' (channel is self_with_company_confirmation)",
                self.review_chain,
            )
        if self.company_may_edit and not has_company_step:
            findings.add(("company_may_edit",), "false when 'company' is not in the review chain", True)

    def _check_field_references(self, findings: _Findings) -> None:
        document_keys = [document.key for document in self.documents]
        earlier: dict[str, FormField] = {}
        for index, form_field in enumerate(self.fields):
            if form_field.document and form_field.document not in document_keys:
                findings.add(
                    ("fields", index, "document"),
                    f"the key of one of this program's documents ({', '.join(document_keys) or 'none defined'})",
                    form_field.document,
                )
            condition = form_field.shown_if
            if condition is not None:
                target = earlier.get(condition.field)
                if target is None:
                    findings.add(
                        ("fields", index, "shown_if", "field"),
                        "the key of an earlier field of this program",
                        condition.field,
                    )
                elif target.type == FieldType.YES_NO:
                    if condition.equals not in YES_NO_VALUES:
                        findings.add(
                            ("fields", index, "shown_if", "equals"), "'yes' or 'no'", condition.equals
                        )
                elif target.type in CHOICE_FIELD_TYPES and target.choices_source == ChoicesSource.INLINE:
                    values = [choice.value for choice in target.choices]
                    if condition.equals not in values:
                        findings.add(
                            ("fields", index, "shown_if", "equals"),
                            f"one of the choices of {target.key} ({', '.join(values)})",
                            condition.equals,
                        )
                else:
                    findings.add(
                        ("fields", index, "shown_if", "field"),
                        "an earlier yes_no or inline choice field",
                        condition.field,
                    )
            earlier.setdefault(form_field.key, form_field)

    def _check_wizard(self, findings: _Findings) -> None:
        if not self.wizard_steps:
            return
        defined = {
            "fields": [form_field.key for form_field in self.fields],
            "documents": [document.key for document in self.documents],
            # Payment-stage pledges are accepted by the payer on the payment page, not in the wizard.
            "pledges": [pledge.key for pledge in self.pledges if pledge.stage == PledgeStage.APPLICATION],
        }
        placed: dict[str, set[str]] = {name: set() for name in defined}
        for step_index, step in enumerate(self.wizard_steps):
            for list_name, keys in defined.items():
                for key_index, key in enumerate(getattr(step, list_name)):
                    if key not in keys:
                        findings.add(
                            ("wizard_steps", step_index, list_name, key_index),
                            f"the key of one of this program's {list_name} ({', '.join(keys) or 'none defined'})",
                            key,
                        )
                    placed[list_name].add(key)
        for list_name, keys in defined.items():
            items = getattr(self, list_name)
            for index, item in enumerate(items):
                if item.key in keys and item.key not in placed[list_name]:
                    findings.add(
                        (list_name, index, "key"), "an item placed in one of the wizard_steps", item.key
                    )


class ApplicationStatusLabels(RulesModel):
    """What people see for each application state (the code uses the English state names)."""

    draft: Text = "草稿"
    submitted: Text = "已提交"
    company_review: Text = "待企业审核"
    institution_review: Text = "待机构确认"
    association_review: Text = "待协会审核"
    approved: Text = "审核通过"
    paid: Text = "已缴费"
    completed: Text = "已完成"
    rejected: Text = "审核不通过"
    resubmitted: Text = "已重新提交"
    withdrawn: Text = "已撤回"
    expired: Text = "已过期"
    refund_requested: Text = "退款审核中"
    refunded: Text = "已退款"
    refund_failed: Text = "退款失败"


class ApplicationRules(RulesModel):
    status_labels: ApplicationStatusLabels = Field(ApplicationStatusLabels(), description="报名状态显示文字")


# ---------------------------------------------------------------------------------------------------------
# billing
# ---------------------------------------------------------------------------------------------------------


class OfflineTransferRules(RulesModel):
    bank_account_name: Text = Field("", description="收款户名")
    bank_name: Text = Field("", description="开户银行")
    account_number: StrictStr = Field("", pattern=r"^[0-9 ]*$", description="银行账号")
    proof_required: StrictBool = Field(False, description="须上传转账凭证")
    deadline_hours: Count = Field(0, description="下单后须在多少小时内汇款，超时自动取消（0 不限）")
    proof_suspends_deadline: StrictBool = Field(False, description="上传凭证后暂停自动取消，等待财务确认")
    reference_prefix: StrictStr = Field(
        "", pattern=r"^[A-Z]{0,4}$", description="汇款附言编号前缀（大写字母）"
    )


class InvoiceCapRules(RulesModel):
    cap_fen: Fen = Field(0, description="单张发票（单次缴费）金额上限（分，0 不限）")
    basis: InvoiceCapBasis = Field(InvoiceCapBasis.TAX_INCLUSIVE, description="上限按含税 / 不含税金额计")
    strict: StrictBool = Field(False, description="严格：超过上限的单次缴费被拒绝（否则仅提示）")
    tax_rate_basis_points: Annotated[StrictInt, Field(ge=0, le=10000)] = Field(
        0, description="税率（万分之一，600 = 6%），按不含税计算上限时使用"
    )


class SplitRules(RulesModel):
    separate_materials: StrictBool = Field(False, description="含培训资料与不含培训资料的人员分开缴费")


class InvoiceTypeRules(RulesModel):
    """Invoice types allowed per channel group (online payment / offline transfer)."""

    online: tuple[InvoiceType, ...] = Field((), description="在线支付可开的发票类型")
    offline_transfer: tuple[InvoiceType, ...] = Field((), description="线下汇款可开的发票类型")


class RefundRules(RulesModel):
    enabled: StrictBool = Field(False, description="允许申请退款")
    allowed_states: tuple[RefundableState, ...] = Field((), description="可申请退款的情形")
    approval_required: StrictBool = Field(True, description="退款须经审核")
    second_person_approval: StrictBool = Field(True, description="审核人不能是申请发起人（双人复核）")
    reasons: tuple[Text, ...] = Field((), description="可选的退款理由（另可填写说明）")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.unique_values(self.allowed_states, ("allowed_states",))
        findings.unique_values(self.reasons, ("reasons",))
        if self.enabled and not self.allowed_states:
            findings.add(("allowed_states",), "at least one refundable state when refunds are enabled", [])
        if self.second_person_approval and not self.approval_required:
            findings.add(("second_person_approval",), "false when approval_required is false", True)
        findings.raise_if_any()
        return self


class BillingRules(RulesModel):
    payer: Payer = Field(Payer.NONE, description="缴费方：企业 / 学员 / 企业或学员 / 无需缴费")
    channels: tuple[PaymentChannel, ...] = Field((), description="支付方式")
    currency: Literal["CNY"] = Field("CNY", description="币种")
    online_payment_deadline_hours: Annotated[StrictInt, Field(ge=1, le=720)] = Field(
        2, description="在线支付订单的有效期（小时），超时先查询网关再取消"
    )
    offline_transfer: OfflineTransferRules = Field(OfflineTransferRules(), description="线下汇款")
    invoice_cap: InvoiceCapRules = Field(InvoiceCapRules(), description="单张发票金额上限")
    split: SplitRules = Field(SplitRules(), description="拆分缴费规则")
    invoice_types: InvoiceTypeRules = Field(InvoiceTypeRules(), description="各支付方式可开的发票类型")
    refunds: RefundRules = Field(RefundRules(), description="退款")
    receipt_email_required: StrictBool = Field(False, description="须填写发票回执邮箱")

    @property
    def online_channels(self) -> tuple[PaymentChannel, ...]:
        return tuple(channel for channel in self.channels if channel != PaymentChannel.OFFLINE_TRANSFER)

    @property
    def offers_offline_transfer(self) -> bool:
        return PaymentChannel.OFFLINE_TRANSFER in self.channels

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.unique_values(self.channels, ("channels",))
        if self.payer == Payer.NONE and self.channels:
            findings.add(("channels",), "no payment channels when payer is none", self.channels)
        if self.payer != Payer.NONE and not self.channels:
            findings.add(("channels",), f"at least one payment channel (payer is {self.payer})", [])
        self._check_offline_transfer(findings)
        if self.invoice_cap.strict and self.invoice_cap.cap_fen == 0:
            findings.add(("invoice_cap", "strict"), "false when cap_fen is 0 (no cap)", True)
        findings.unique_values(self.invoice_types.online, ("invoice_types", "online"))
        findings.unique_values(self.invoice_types.offline_transfer, ("invoice_types", "offline_transfer"))
        if self.invoice_types.online and not self.online_channels:
            findings.add(
                ("invoice_types", "online"),
                "no invoice types when no online channel is offered",
                self.invoice_types.online,
            )
        if self.refunds.enabled and self.payer == Payer.NONE:
            findings.add(("refunds", "enabled"), "false when payer is none", True)
        findings.raise_if_any()
        return self

    def _check_offline_transfer(self, findings: _Findings) -> None:
        offline = self.offline_transfer
        if not self.offers_offline_transfer:
            # Settings for a channel that is not offered are a sign of a half-edited file: refuse them
            # rather than keep bank details nobody sees.
            defaults = OfflineTransferRules()
            for name in OfflineTransferRules.model_fields:
                if getattr(offline, name) != getattr(defaults, name):
                    findings.add(
                        ("offline_transfer", name),
                        "no offline transfer settings when offline_transfer is not in channels",
                        getattr(offline, name),
                    )
            if self.invoice_types.offline_transfer:
                findings.add(
                    ("invoice_types", "offline_transfer"),
                    "no invoice types when offline_transfer is not in channels",
                    self.invoice_types.offline_transfer,
                )
            return
        for name in ("bank_account_name", "bank_name", "account_number"):
            if getattr(offline, name) == "":
                findings.add(("offline_transfer", name), "a value (shown to payers making the transfer)")
        if offline.proof_suspends_deadline and offline.deadline_hours == 0:
            findings.add(
                ("offline_transfer", "proof_suspends_deadline"),
                "false when deadline_hours is 0 (no deadline)",
                True,
            )


# ---------------------------------------------------------------------------------------------------------
# membership
# ---------------------------------------------------------------------------------------------------------


class MembershipStatusLabels(RulesModel):
    applied: Text = "个人提交"
    recommended_new: Text = "企业推荐（新会员）"
    recommended_renewal: Text = "企业推荐（续期）"
    active: Text = "正式会员"
    expired: Text = "已过期"
    rolled_back: Text = "已回退"
    approved: Text = "待缴费"
    rejected: Text = "未通过"


class MembershipRules(RulesModel):
    enabled: StrictBool = Field(False, description="启用个人会员")
    fee_per_year_fen: Fen = Field(0, description="会费（分/人/年）")
    period_years: Count = Field(0, description="缴费期（年），一次缴清")
    company_recommendation_required: StrictBool = Field(False, description="须经所在企业推荐")
    electronic_recommendation: StrictBool = Field(
        False, description="企业在线电子签章推荐（替代打印盖章扫描发邮件）"
    )
    renewal_by_company: StrictBool = Field(False, description="过期会员由企业推荐续期")
    company_may_roll_back: StrictBool = Field(False, description="协会审批前企业可回退推荐")
    reminder_days_before_expiry: tuple[PositiveCount, ...] = Field((), description="到期前提醒（天）")
    members_training_price: MembersTrainingPrice = Field(
        MembersTrainingPrice.FULL, description="会员参加培训：原价 / 免费 / 折扣"
    )
    members_training_percent: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        100, description="会员按原价的百分之几缴费（members_training_price = percent 时）"
    )
    eligibility_age_below: Count = Field(0, description="申请人年龄须低于（岁，0 不限）")
    eligibility_note: Text = Field("", description="申请条件说明")
    photo: DocumentSpec | None = Field(None, description="会员证件照要求")
    status_labels: MembershipStatusLabels = Field(MembershipStatusLabels(), description="会员状态显示文字")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if self.enabled and self.fee_per_year_fen == 0:
            findings.add(("fee_per_year_fen",), "an amount > 0 when membership is enabled", 0)
        if self.enabled and self.period_years == 0:
            findings.add(("period_years",), "at least 1 year when membership is enabled", 0)
        if not self.enabled and self.members_training_price != MembersTrainingPrice.FULL:
            findings.add(
                ("members_training_price",), "full when membership is disabled", self.members_training_price
            )
        if (
            self.members_training_price == MembersTrainingPrice.PERCENT
            and not 0 < self.members_training_percent < 100
        ):
            findings.add(
                ("members_training_percent",),
                "a percentage between 1 and 99 (use free or full otherwise)",
                self.members_training_percent,
            )
        if self.electronic_recommendation and not self.company_recommendation_required:
            findings.add(
                ("electronic_recommendation",), "false when company_recommendation_required is false", True
            )
        if self.renewal_by_company and not self.company_recommendation_required:
            findings.add(("renewal_by_company",), "false when company_recommendation_required is false", True)
        if self.company_may_roll_back and not self.company_recommendation_required:
            findings.add(
                ("company_may_roll_back",), "false when company_recommendation_required is false", True
            )
        findings.unique_values(self.reminder_days_before_expiry, ("reminder_days_before_expiry",))
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# learning
# ---------------------------------------------------------------------------------------------------------


class VideoPolicy(RulesModel):
    forbid_seek_ahead: StrictBool = Field(True, description="禁止拖动快进（超过已观看位置）")
    resume: StrictBool = Field(True, description="支持断点续看")
    idle_pause_minutes: Count = Field(0, description="每隔多少分钟自动暂停，须点击继续（0 不暂停）")
    heartbeat_seconds: Annotated[StrictInt, Field(ge=5, le=300)] = Field(
        15, description="播放进度上报间隔（秒）"
    )
    max_playback_rate: Annotated[StrictFloat, Field(ge=0.5, le=4.0)] = Field(1.0, description="最高播放倍速")


class LearningRules(RulesModel):
    enabled: StrictBool = Field(False, description="启用在线学习")
    video: VideoPolicy = Field(VideoPolicy(), description="视频播放规则")
    completion_required_before_test_card: StrictBool = Field(False, description="学完全部课件才能打印测试证")
    completion_deadline_days_before_test: Count = Field(0, description="须在测试前多少天学完（0 不限）")
    completion_deadline_note: Text = Field("", description="学习期限说明")
    records_visible_to_company: StrictBool = Field(False, description="企业可查看本单位人员的学习记录")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if not self.enabled:
            if self.completion_required_before_test_card:
                findings.add(
                    ("completion_required_before_test_card",), "false when learning is disabled", True
                )
            if self.completion_deadline_days_before_test:
                findings.add(
                    ("completion_deadline_days_before_test",),
                    "0 when learning is disabled",
                    self.completion_deadline_days_before_test,
                )
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------------------


def numbering_pattern_problem(pattern: str) -> str | None:
    """Why a numbering pattern is unusable, or None. Patterns are `str.format` templates."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError:
        return "a str.format pattern with balanced braces"
    unknown = [name for name in names if name not in NUMBERING_PLACEHOLDERS]
    if unknown:
        return f"only the placeholders {', '.join('{' + name + '}' for name in NUMBERING_PLACEHOLDERS)}"
    if "seq" not in names:
        return "a pattern containing {seq} (for example 'SC{year}{seq:06d}')"
    try:
        pattern.format(year=2025, seq=1, program="p")
    except (ValueError, TypeError):
        return "placeholders with valid formats ({seq:06d}, {year})"
    return None


class CertificateKindRules(RulesModel):
    code: Code = Field("", description="标识")
    kind: CertificateKind = Field(CertificateKind.TRAINING, description="种类")
    title: Text = Field("", description="名称，如 测试证 / 准考证 / 听课证 / 合格证")
    condition: CertificateCondition = Field(CertificateCondition.AFTER_APPROVAL, description="发放条件")
    programs: tuple[Code, ...] = Field((), description="适用的培训项目（为空表示全部）")
    numbering_pattern: StrictStr = Field(
        "{year}{seq:06d}",
        description="编号规则：{year} 年份、{seq} 序号、{program} 项目编码，如 SC{year}{seq:06d}",
    )
    validity_years: Count = Field(0, description="有效期（年，0 长期）")
    print_window_days: Count = Field(0, description="可打印天数（自开放打印起，0 不限）")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.require(self, "code", "title")
        problem = numbering_pattern_problem(self.numbering_pattern)
        if problem is not None:
            findings.add(("numbering_pattern",), problem, self.numbering_pattern)
        findings.unique_values(self.programs, ("programs",))
        findings.raise_if_any()
        return self


class ExamRules(RulesModel):
    max_score: PositiveCount = Field(100, description="满分")
    pass_score: Count = Field(60, description="合格分")
    retake_allowed: StrictBool = Field(True, description="允许补考")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if self.pass_score > self.max_score:
            findings.add(("pass_score",), f"at most max_score ({self.max_score})", self.pass_score)
        findings.raise_if_any()
        return self


class ContinuingEducationRules(RulesModel):
    enabled: StrictBool = Field(False, description="启用继续教育")
    cycle_years: Count = Field(0, description="继续教育周期（年）")
    hours_required: Count = Field(0, description="每周期须完成学时")
    keyed_by_certificate_number: StrictBool = Field(False, description="按证书编号报名")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        if self.enabled and self.cycle_years == 0:
            findings.add(("cycle_years",), "at least 1 year when continuing education is enabled", 0)
        if not self.enabled and self.keyed_by_certificate_number:
            findings.add(
                ("keyed_by_certificate_number",), "false when continuing education is disabled", True
            )
        findings.raise_if_any()
        return self


class CertificateRules(RulesModel):
    kinds: tuple[CertificateKindRules, ...] = Field((), description="发放的证件")
    exams: ExamRules = Field(ExamRules(), description="考试")
    continuing_education: ContinuingEducationRules = Field(ContinuingEducationRules(), description="继续教育")
    registry_enabled: StrictBool = Field(False, description="证书登记（可查询、二维码验证）")

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.unique(self.kinds, "code", ("kinds",))
        if self.continuing_education.keyed_by_certificate_number and not self.registry_enabled:
            findings.add(
                ("continuing_education", "keyed_by_certificate_number"),
                "false when registry_enabled is false (the certificate numbers live in the registry)",
                True,
            )
        findings.raise_if_any()
        return self


# ---------------------------------------------------------------------------------------------------------
# the whole file
# ---------------------------------------------------------------------------------------------------------


class Rules(RulesModel):
    """All rules of one association. A `Rules` instance is always valid: construction runs every check."""

    association: AssociationRules = AssociationRules()
    branding: BrandingRules = BrandingRules()
    identity: IdentityRules = IdentityRules()
    organizations: OrganizationRules = OrganizationRules()
    programs: tuple[ProgramRules, ...] = ()
    applications: ApplicationRules = ApplicationRules()
    billing: BillingRules = BillingRules()
    membership: MembershipRules = MembershipRules()
    learning: LearningRules = LearningRules()
    certificates: CertificateRules = CertificateRules()

    def program(self, code: str) -> ProgramRules:
        for candidate in self.programs:
            if candidate.code == code:
                return candidate
        raise KeyError(code)

    def has_program(self, code: str) -> bool:
        return any(candidate.code == code for candidate in self.programs)

    def certificate_kinds_for(self, program_code: str) -> tuple[CertificateKindRules, ...]:
        return tuple(
            kind for kind in self.certificates.kinds if not kind.programs or program_code in kind.programs
        )

    @model_validator(mode="after")
    def _check(self) -> Self:
        findings = _Findings()
        findings.unique(self.programs, "code", ("programs",))
        for index, program in enumerate(self.programs):
            self._check_program(findings, index, program)
        self._check_companies(findings)
        self._check_billing(findings)
        self._check_certificates(findings)
        findings.raise_if_any()
        return self

    def _check_program(self, findings: _Findings, index: int, program: ProgramRules) -> None:
        here: KeyPath = ("programs", index)
        organizations = self.organizations
        unit_codes = [unit.code for unit in organizations.units]
        for step_index, step in enumerate(program.review_chain):
            if step == ReviewStep.INSTITUTION and not organizations.institutions:
                findings.add(
                    (*here, "review_chain", step_index),
                    "a review step other than institution (no organizations.institutions are defined)",
                    step,
                )
            if step == ReviewStep.COMPANY and not self.identity.companies_enabled:
                findings.add(
                    (*here, "review_chain", step_index),
                    "a review step other than company (identity.company_login_methods is empty)",
                    step,
                )
        if program.channel != EnrolmentChannel.SELF_ONLY and not self.identity.companies_enabled:
            findings.add(
                (*here, "channel"), "self_only (identity.company_login_methods is empty)", program.channel
            )
        for code_index, code in enumerate(program.unit_codes):
            if code not in unit_codes:
                findings.add(
                    (*here, "unit_codes", code_index),
                    f"the code of one of organizations.units ({', '.join(unit_codes) or 'none defined'})",
                    code,
                )
        profile_fields = self.identity.profile_fields()
        for field_index, form_field in enumerate(program.fields):
            if form_field.choices_source == ChoicesSource.UNITS and not organizations.units:
                findings.add(
                    (*here, "fields", field_index, "choices_source"),
                    "a source other than units (no organizations.units are defined)",
                    form_field.choices_source,
                )
            if form_field.choices_source == ChoicesSource.INSTITUTIONS and not organizations.institutions:
                findings.add(
                    (*here, "fields", field_index, "choices_source"),
                    "a source other than institutions (no organizations.institutions are defined)",
                    form_field.choices_source,
                )
            if form_field.profile_field is not None and form_field.profile_field not in profile_fields:
                findings.add(
                    (*here, "fields", field_index, "profile_field"),
                    f"a field of the profile ({', '.join(profile_fields)})",
                    form_field.profile_field,
                )
        if program.requires_real_name and self.identity.real_name_verification == RealNameVerification.NONE:
            findings.add(
                (*here, "requires_real_name"), "false when identity.real_name_verification is none", True
            )
        if program.requires_photo and self.identity.profile_photo is None:
            findings.add((*here, "requires_photo"), "false when identity.profile_photo is not defined", True)
        if program.members_only and not self.membership.enabled:
            findings.add((*here, "members_only"), "false when membership is disabled", True)
        if (
            program.kind == ProgramKind.CONTINUING_EDUCATION
            and not self.certificates.continuing_education.enabled
        ):
            findings.add(
                (*here, "kind"),
                "a kind other than continuing_education (certificates.continuing_education is disabled)",
                program.kind,
            )
        if self.billing.payer == Payer.NONE:
            price = program.price
            if price.fee_fen:
                findings.add((*here, "price", "fee_fen"), "0 when billing.payer is none", price.fee_fen)
            if price.materials_fee_fen:
                findings.add(
                    (*here, "price", "materials_fee_fen"),
                    "0 when billing.payer is none",
                    price.materials_fee_fen,
                )

    def _check_companies(self, findings: _Findings) -> None:
        if self.identity.companies_enabled:
            return
        reason = "when identity.company_login_methods is empty"
        organizations = self.organizations
        for name in (
            "person_must_belong_to_company",
            "company_join_approval_required",
            "company_must_join_unit",
            "company_manages_people",
        ):
            if getattr(organizations, name):
                findings.add(("organizations", name), f"false {reason}", True)
        if self.membership.company_recommendation_required:
            findings.add(("membership", "company_recommendation_required"), f"false {reason}", True)

    def _check_billing(self, findings: _Findings) -> None:
        billing = self.billing
        if billing.payer in (Payer.COMPANY, Payer.COMPANY_OR_STUDENT) and not self.identity.companies_enabled:
            findings.add(
                ("billing", "payer"),
                "student or none (identity.company_login_methods is empty)",
                billing.payer,
            )
        if self.membership.enabled and billing.payer == Payer.NONE:
            findings.add(
                ("billing", "payer"),
                "someone who pays the membership fees (membership is enabled)",
                billing.payer,
            )
        for index, channel in enumerate(billing.channels):
            if (
                channel == PaymentChannel.WECHAT_JSAPI
                and PersonLoginMethod.WECHAT_MINIPROGRAM not in self.identity.person_login_methods
            ):
                findings.add(
                    ("billing", "channels", index),
                    "a channel other than wechat_jsapi (it needs wechat_miniprogram in identity.person_login_methods)",
                    channel,
                )

    def _check_certificates(self, findings: _Findings) -> None:
        program_codes = [program.code for program in self.programs]
        test_card_after_learning = False
        for index, kind in enumerate(self.certificates.kinds):
            here: KeyPath = ("certificates", "kinds", index)
            if kind.condition == CertificateCondition.AFTER_LEARNING_COMPLETION and not self.learning.enabled:
                findings.add(
                    (*here, "condition"),
                    "a condition other than after_learning_completion (learning is disabled)",
                    kind.condition,
                )
            if (
                kind.condition == CertificateCondition.AFTER_MEMBERSHIP_PAYMENT
                and not self.membership.enabled
            ):
                findings.add(
                    (*here, "condition"),
                    "a condition other than after_membership_payment (membership is disabled)",
                    kind.condition,
                )
            if kind.kind == CertificateKind.MEMBERSHIP and not self.membership.enabled:
                findings.add(
                    (*here, "kind"), "a kind other than membership (membership is disabled)", kind.kind
                )
            if kind.condition in PAYMENT_CONDITIONS and self.billing.payer == Payer.NONE:
                findings.add(
                    (*here, "condition"),
                    f"a condition other than {kind.condition} (billing.payer is none)",
                    kind.condition,
                )
            for program_index, code in enumerate(kind.programs):
                if code not in program_codes:
                    findings.add(
                        (*here, "programs", program_index),
                        f"the code of one of the programs ({', '.join(program_codes) or 'none defined'})",
                        code,
                    )
            if (
                kind.kind == CertificateKind.TEST_CARD
                and kind.condition == CertificateCondition.AFTER_LEARNING_COMPLETION
            ):
                test_card_after_learning = True
        if self.learning.completion_required_before_test_card and not test_card_after_learning:
            findings.add(
                ("learning", "completion_required_before_test_card"),
                "false unless a test_card certificate kind has condition after_learning_completion",
                True,
            )
        continuing = self.certificates.continuing_education
        if continuing.enabled and not any(p.kind == ProgramKind.CONTINUING_EDUCATION for p in self.programs):
            findings.add(
                ("certificates", "continuing_education", "enabled"),
                "false unless a program has kind continuing_education",
                True,
            )

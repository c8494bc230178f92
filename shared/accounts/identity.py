"""Identity services: registering people and companies under the association's rules, and who may log in.

Every function takes the tenant's `Rules` explicitly; callers never invent their own defaults.
"""

from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared.accounts.models import Company, CompanyStatus, Gender, PersonProfile, User, UserKind
from shared.accounts.services import IssuedInvitation, invitation_create
from shared.errors import CodedError
from shared.services import audit_record
from shared.sms import SmsError, sms_code_verify
from shared.validation import (
    IdentifierError,
    id_number_birth_date,
    id_number_gender,
    normalise_id_number,
    normalise_mobile,
    normalise_uscc,
)
from tenant_configs.schema import CompanyAccountCreation, PersonLoginMethod, Rules


class IdentityError(CodedError):
    """A refused identity action: `field` names the form field at fault (or None)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(code, message)
        self.field = field


@dataclass(frozen=True)
class PersonRegistration:
    name: str
    id_number: str
    phone: str
    password: str
    sms_code: str = ""


@dataclass(frozen=True)
class CompanyRegistration:
    name: str
    uscc: str
    contact_name: str
    phone: str
    password: str
    sms_code: str = ""


def _identifier(function, value: str, field: str) -> str:
    try:
        return function(value)
    except IdentifierError as error:
        raise IdentityError(error.code, error.message, field) from error


def _check_password(password: str, rules: Rules, user: User) -> None:
    if len(password) < rules.identity.password_min_length:
        raise IdentityError(
            "password_too_short", f"密码至少 {rules.identity.password_min_length} 位", "password"
        )
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise IdentityError("password_weak", "；".join(error.messages), "password") from error


def _verify_sms(rules: Rules, phone: str, code: str, purpose: str) -> None:
    if not rules.identity.registration_requires_sms:
        return
    try:
        sms_code_verify(phone=phone, purpose=purpose, code=code)
    except SmsError as error:
        raise IdentityError(error.code, error.message, "sms_code") from error


def person_register(*, rules: Rules, registration: PersonRegistration) -> User:
    """Create a person's account and profile. The login name is the ID number when the rules log
    people in by ID number, else the phone number.

    Raises IdentityError: bad ID/phone, phone or ID already registered (per the rules' one-account
    rules), wrong/expired SMS code, weak password.
    """
    identity = rules.identity
    name = registration.name.strip()
    if not name:
        raise IdentityError("name_required", "请填写姓名", "name")
    id_number = _identifier(normalise_id_number, registration.id_number, "id_number")
    phone = _identifier(normalise_mobile, registration.phone, "phone")
    if identity.one_account_per_id_number and User.objects.filter(id_number=id_number).exists():
        raise IdentityError("id_number_taken", "该身份证号已注册，请直接登录或找回密码", "id_number")
    if identity.one_account_per_phone and User.objects.filter(phone=phone).exists():
        raise IdentityError("phone_taken", "该手机号已注册，请直接登录或找回密码", "phone")
    by_id = PersonLoginMethod.ID_NUMBER_PASSWORD in identity.person_login_methods
    username = id_number if by_id else phone
    candidate = User(username=username, name=name, phone=phone)
    _check_password(registration.password, rules, candidate)
    _verify_sms(rules, phone, registration.sms_code, "register")
    now = timezone.now()
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username,
                registration.password,
                name=name,
                phone=phone,
                id_number=id_number,
                kind=UserKind.PERSON,
                phone_verified_at=now if identity.registration_requires_sms else None,
            )
            PersonProfile.objects.create(
                user=user,
                name=name,
                id_number=id_number,
                phone=phone,
                gender=Gender.MALE if id_number_gender(id_number) == "male" else Gender.FEMALE,
                birth_date=id_number_birth_date(id_number),
                submitted_at=now,
            )
            audit_record(actor=user, action="person.register", target=user, data={"username": username})
    except IntegrityError as error:  # a concurrent registration of the same ID or phone won
        raise IdentityError("already_registered", "该身份证号或手机号已注册", None) from error
    return user


def company_register(*, rules: Rules, registration: CompanyRegistration) -> User:
    """Self-registration of a company and its first operator account (sichuan, shanghai).

    Refused with `company_registration_closed` where the association issues company accounts (gansu).
    """
    if rules.identity.company_account_creation != CompanyAccountCreation.SELF_REGISTRATION:
        raise IdentityError("company_registration_closed", "本协会的企业账号由协会统一开通，请联系协会", None)
    name = registration.name.strip()
    if not name:
        raise IdentityError("name_required", "请填写单位名称", "name")
    uscc = _identifier(normalise_uscc, registration.uscc, "uscc")
    phone = _identifier(normalise_mobile, registration.phone, "phone")
    if Company.objects.filter(uscc=uscc).exists():
        raise IdentityError("uscc_taken", "该统一社会信用代码已注册", "uscc")
    if Company.objects.filter(name=name).exists():
        raise IdentityError("company_name_taken", "该单位名称已注册", "name")
    if rules.identity.one_account_per_phone and User.objects.filter(phone=phone).exists():
        raise IdentityError("phone_taken", "该手机号已注册", "phone")
    candidate = User(username=phone, name=name, phone=phone)
    _check_password(registration.password, rules, candidate)
    _verify_sms(rules, phone, registration.sms_code, "register")
    try:
        with transaction.atomic():
            company = Company.objects.create(
                name=name, uscc=uscc, contact_name=registration.contact_name.strip(), contact_phone=phone
            )
            user = User.objects.create_user(
                phone,
                registration.password,
                name=registration.contact_name.strip() or name,
                phone=phone,
                kind=UserKind.COMPANY,
                company=company,
                phone_verified_at=timezone.now() if rules.identity.registration_requires_sms else None,
            )
            audit_record(actor=user, action="company.register", target=company, data={"uscc": uscc})
    except IntegrityError as error:
        raise IdentityError("already_registered", "该单位或手机号已注册", None) from error
    return user


def company_issue(
    *, rules: Rules, name: str, uscc: str = "", contact_name: str = "", actor: User
) -> tuple[Company, IssuedInvitation]:
    """The association creates a company account (gansu) and gets a one-time activation link.

    No initial password exists: the company's operator chooses one through the link.
    """
    name = name.strip()
    if not name:
        raise IdentityError("name_required", "请填写单位名称", "name")
    uscc = _identifier(normalise_uscc, uscc, "uscc") if uscc.strip() else ""
    if Company.objects.filter(name=name).exists():
        raise IdentityError("company_name_taken", "该单位名称已存在", "name")
    if uscc and Company.objects.filter(uscc=uscc).exists():
        raise IdentityError("uscc_taken", "该统一社会信用代码已存在", "uscc")
    with transaction.atomic():
        company = Company.objects.create(
            name=name, uscc=uscc, contact_name=contact_name, status=CompanyStatus.INVITED
        )
        issued = invitation_create(
            kind=UserKind.COMPANY, name=name, company=company, created_by_label=actor.username
        )
        audit_record(actor=actor, action="company.issue", target=company, data={"name": name})
    return company, issued


def login_refusal(*, rules: Rules, user: User) -> str | None:
    """Why this (correctly authenticated) user may not log in now, or None."""
    if user.kind == UserKind.PERSON and rules.identity.person_login_requires_company_approval:
        profile = getattr(user, "profile", None)
        if profile is None or profile.company_id is None:
            return "您的注册信息需经本单位审核通过后才能登录，请联系本单位的系统管理人员。"
    if user.kind == UserKind.COMPANY and user.company and user.company.status != CompanyStatus.ACTIVE:
        return "该企业账号尚未激活或已停用，请联系协会。"
    return None


def password_reset_by_sms(*, rules: Rules, phone: str, code: str, password: str) -> User:
    """Set a new password after proving the phone with an SMS code (also activates imported people).

    Raises IdentityError: bad phone, unknown phone, wrong/expired code, weak password. A wrong code
    for an unknown phone gives the same answer as for a known one.
    """
    phone = _identifier(normalise_mobile, phone, "phone")
    user = User.objects.filter(phone=phone, is_active=True).first()
    try:
        sms_code_verify(phone=phone, purpose="password_reset", code=code)
    except SmsError as error:
        raise IdentityError(error.code, error.message, "sms_code") from error
    if user is None:
        raise IdentityError("phone_unknown", "该手机号尚未注册", "phone")
    _check_password(password, rules, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action="password.reset_by_sms", target=user)
    return user


def real_name_verify(*, user: User, name: str, id_number: str) -> User:
    """Check name + ID number with the configured provider and record success on the account.

    The ID must be the account's own (it was given at registration). Raises IdentityError
    (`realname_mismatch`, `realname_unavailable`, …); a mismatch changes nothing.
    """
    from shared.realname import RealNameError, get_realname_provider

    id_number = _identifier(normalise_id_number, id_number, "id_number")
    if user.id_number and user.id_number != id_number:
        raise IdentityError("id_number_not_yours", "身份证号与注册时填写的不一致", "id_number")
    try:
        result = get_realname_provider().verify(name=name.strip(), id_number=id_number)
    except RealNameError as error:
        raise IdentityError(error.code, error.message, None) from error
    if not result.verified:
        raise IdentityError("realname_mismatch", f"实名认证未通过：{result.reason}", None)
    with transaction.atomic():
        user.real_name_verified_at = timezone.now()
        user.name = name.strip()
        user.id_number = id_number
        user.save(update_fields=["real_name_verified_at", "name", "id_number"])
        PersonProfile.objects.filter(user=user).update(name=name.strip())
        audit_record(
            actor=user,
            action="person.real_name_verified",
            target=user,
            data={"provider_reference": result.provider_reference},
        )
    return user


def company_operator_invite(*, company: Company, actor: User, name: str) -> IssuedInvitation:
    """A company operator adds another operator account for the same company (one-time link)."""
    if actor.kind != UserKind.COMPANY or actor.company_id != company.pk:
        raise IdentityError("not_your_company", "只能为本单位添加操作员", None)
    name = name.strip()
    if not name:
        raise IdentityError("name_required", "请填写操作员姓名", "name")
    with transaction.atomic():
        issued = invitation_create(
            kind=UserKind.COMPANY, name=name, company=company, created_by_label=actor.username
        )
        audit_record(actor=actor, action="company.operator_invite", target=company, data={"name": name})
    return issued

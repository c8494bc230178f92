"""Services a person (or a company operator) runs on their own account data: WeChat registration, the
profile under the rules' locks, invoice titles, mailing addresses and API tokens.

Invoice titles and addresses are owned as `shared.accounts.selectors.owner_filter` says: a company
operator's belong to the company, anyone else's to the account itself. Callers fetch a row through
the selectors (which check ownership) and pass it in; the services lock it again before writing.
"""

import re
import secrets
from dataclasses import dataclass, replace
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Model, Q
from rest_framework.authtoken.models import Token

from shared.accounts.identity import IdentityError, PersonRegistration, login_refusal, person_register
from shared.accounts.models import (
    Gender,
    InvoiceTitle,
    MailingAddress,
    PersonProfile,
    PracticeCertificate,
    User,
    UserKind,
)
from shared.accounts.selectors import person_get_by_wechat_openid
from shared.accounts.wechat import (
    wechat_code_to_session,
    wechat_login_check,
    wechat_miniprogram_credentials,
    wechat_ticket_issue,
)
from shared.services import audit_record
from shared.validation import IdentifierError, id_number_birth_date, normalise_id_number, normalise_mobile
from tenant_configs.schema import PROFILE_FIELD_LABELS, ProfileField, Rules

# Profile fields a person edits here. The photo has its own upload flow, practice certificates are
# rows of their own, and the phone number changes only through an SMS-verified flow.
PROFILE_COLUMNS: tuple[str, ...] = tuple(
    field.value
    for field in ProfileField
    if field not in (ProfileField.PHOTO, ProfileField.PRACTICE_CERTIFICATES)
)
_DATE_FIELDS = {ProfileField.BIRTH_DATE.value, ProfileField.WORK_START_DATE.value}
_POSTCODE = re.compile(r"^\d{6}$")
_TAX_NUMBER = re.compile(r"^[0-9A-Z]{15,20}$")
_PHONE_CHARACTERS = re.compile(r"^[0-9+\-() ]+$")


class ProfileFieldsLocked(IdentityError):
    """A profile change touches fields the rules lock; `fields` names them all."""

    def __init__(self, fields: tuple[str, ...]):
        labels = "、".join(PROFILE_FIELD_LABELS.get(ProfileField(name), name) for name in fields)
        super().__init__("field_locked", f"以下信息已锁定，不能修改：{labels}", fields[0])
        self.fields = fields


# --- WeChat login and registration --------------------------------------------------------------


@dataclass(frozen=True)
class WechatLoginResult:
    """Either the person to log in, or (nobody has that openid yet) a ticket to register with."""

    user: User | None
    wechat_ticket: str = ""


def wechat_login(*, rules: Rules, code: str) -> WechatLoginResult:
    """Exchange a `wx.login()` code at WeChat and find the person bound to the openid.

    Raises IdentityError: `login_method_disabled` (the rules have no WeChat login, checked before
    WeChat is called), `wechat_not_configured`, `wechat_code_invalid`, `wechat_rate_limited`,
    `wechat_unavailable`, `login_refused` (the account is disabled or the rules refuse it now).
    """
    wechat_login_check(rules)
    appid, secret = wechat_miniprogram_credentials()
    session = wechat_code_to_session(appid=appid, secret=secret, code=code)
    user = person_get_by_wechat_openid(openid=session.openid)
    if user is None:
        return WechatLoginResult(user=None, wechat_ticket=wechat_ticket_issue(openid=session.openid))
    if not user.is_active:
        raise IdentityError("login_refused", "该账户已停用，请联系协会")
    refusal = login_refusal(rules=rules, user=user)
    if refusal:
        raise IdentityError("login_refused", refusal)
    return WechatLoginResult(user=user)


def person_register_wechat(*, rules: Rules, openid: str, registration: PersonRegistration) -> User:
    """Register a person who arrived through the mini-program and bind their openid to the account.

    Preconditions: `openid` comes from a verified ticket of the current tenant. The password is
    optional: without one the account has an unusable password and logs in through WeChat only.
    All of `person_register`'s checks apply (ID, phone, one account per ID/phone, SMS code where
    the rules require one, password strength).

    Raises IdentityError: `login_method_disabled` (the rules have no WeChat login),
    `wechat_already_registered` (the openid is already bound in this tenant), and every error of
    `person_register`.
    """
    wechat_login_check(rules)
    if not openid:
        raise IdentityError("wechat_ticket_invalid", "微信登录已过期，请重新进入小程序", "wechat_ticket")
    has_password = bool(registration.password)
    if not has_password:
        # Passes person_register's strength checks; discarded below for an unusable password.
        registration = replace(registration, password=secrets.token_urlsafe(32))
    with transaction.atomic():
        # Serialise registrations of one openid: no unique constraint guards the column.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"wechat-openid:{connection.schema_name}:{openid}"],
            )
        if User.objects.filter(wechat_openid=openid).exists():
            raise IdentityError("wechat_already_registered", "该微信已绑定账户，请直接登录")
        user = person_register(rules=rules, registration=registration)
        user.wechat_openid = openid
        fields = ["wechat_openid"]
        if not has_password:
            user.set_unusable_password()
            fields.append("password")
        user.save(update_fields=fields)
        audit_record(actor=user, action="person.wechat_bind", target=user, data={})
    return user


# --- API tokens ---------------------------------------------------------------------------------


def api_token_issue(*, user: User) -> str:
    """The account's API token in this tenant (created on first use; one per account)."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def api_token_revoke(*, user: User) -> None:
    """Delete the account's API token: every client using it is logged out. Idempotent."""
    Token.objects.filter(user=user).delete()


# --- profile ------------------------------------------------------------------------------------


def profile_locked_fields(*, rules: Rules, profile: PersonProfile) -> tuple[str, ...]:
    """Fields the person may no longer change: `locked_on_submit` once the profile was submitted,
    `locked_on_enrolment` once they enrolled the first time."""
    locked: list[str] = []
    if profile.submitted_at is not None:
        locked += [field.value for field in rules.identity.locked_on_submit]
    if profile.first_enrolled_at is not None:
        locked += [field.value for field in rules.identity.locked_on_enrolment]
    return tuple(dict.fromkeys(locked))


def _text(name: str, value: object, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise IdentityError(f"{name}_required", f"请填写{PROFILE_FIELD_LABELS[ProfileField(name)]}", name)
    max_length = PersonProfile._meta.get_field(name).max_length
    if max_length and len(text) > max_length:
        label = PROFILE_FIELD_LABELS.get(ProfileField(name), name)
        raise IdentityError("field_too_long", f"{label}最多 {max_length} 个字符", name)
    return text


def _profile_value(name: str, value: object) -> object:
    """The normalised value of one profile field. Raises IdentityError when it is not acceptable."""
    if name == ProfileField.ID_NUMBER:
        try:
            return normalise_id_number(str(value or ""))
        except IdentifierError as error:
            raise IdentityError(error.code, error.message, name) from error
    if name == ProfileField.PHONE:
        text = str(value or "").strip()
        try:
            return normalise_mobile(text)
        except IdentifierError:
            return text  # any other number is a change, refused as such
    if name == ProfileField.GENDER:
        if value not in Gender.values:
            raise IdentityError("gender_invalid", "请选择性别", name)
        return value
    if name in _DATE_FIELDS:
        if value is not None and not isinstance(value, date):
            raise IdentityError("date_invalid", "日期格式不正确", name)
        return value
    if name == ProfileField.EMAIL:
        text = _text(name, value)
        if text:
            try:
                validate_email(text)
            except ValidationError as error:
                raise IdentityError("email_invalid", "电子邮箱格式不正确", name) from error
        return text
    if name == ProfileField.POSTCODE:
        text = _text(name, value)
        if text and not _POSTCODE.match(text):
            raise IdentityError("postcode_invalid", "邮编为 6 位数字", name)
        return text
    return _text(name, value, required=name in (ProfileField.NAME, ProfileField.ID_TYPE))


def profile_update(
    *, rules: Rules, user: User, changes: dict[str, object], staff: User | None = None
) -> PersonProfile:
    """Change a person's profile. Only fields whose value differs are written and audited.

    By the person themself, locked fields are refused. With `staff` (an association reviewer or
    admin correcting the record, as gansu's "请联系协会系统管理员进行调整"), locks do not apply and the
    audit entry names the staff member and holds the old and new values.

    Preconditions: `user` is a person with a profile; `changes` maps profile field keys
    (`ProfileField` values, e.g. "name", "gender", "email") to new values. Locks are checked on the
    locked row, so an enrolment that lands concurrently is seen. On any error nothing changes.

    Raises IdentityError: `profile_missing`; `field_unknown` (not a profile field);
    `field_not_in_profile` (the rules do not collect it); `phone_change_requires_sms`;
    `field_locked` (a `ProfileFieldsLocked` naming every locked field touched); validation codes
    (`name_required`, `gender_invalid`, `email_invalid`, `postcode_invalid`, `field_too_long`, the
    ID number's codes); `id_number_taken`.
    """
    unknown = sorted(set(changes) - set(PROFILE_COLUMNS))
    if unknown:
        raise IdentityError("field_unknown", f"未知的资料字段：{'、'.join(unknown)}", unknown[0])
    collected = {field.value for field in rules.identity.profile_fields()}
    not_collected = sorted(set(changes) - collected)
    if not_collected:
        raise IdentityError(
            "field_not_in_profile", f"本协会不收集这些资料：{'、'.join(not_collected)}", not_collected[0]
        )
    values = {name: _profile_value(name, value) for name, value in changes.items()}
    with transaction.atomic():
        profile = PersonProfile.objects.select_for_update().filter(user_id=user.pk).first()
        if profile is None:
            raise IdentityError("profile_missing", "没有个人资料")
        changed = {name: value for name, value in values.items() if getattr(profile, name) != value}
        if not changed:
            return profile
        if ProfileField.PHONE in changed:
            raise IdentityError("phone_change_requires_sms", "更换手机号须通过短信验证", "phone")
        if staff is None:
            locked = tuple(
                name for name in profile_locked_fields(rules=rules, profile=profile) if name in changed
            )
            if locked:
                raise ProfileFieldsLocked(locked)
        elif not (staff.has_staff_role("reviewer") or staff.has_staff_role("admin")):
            raise IdentityError("staff_role_required", "只有审核员或管理员可以修改个人资料")
        previous = {name: str(getattr(profile, name)) for name in changed}
        account = User.objects.select_for_update().get(pk=user.pk)
        account_fields: list[str] = []
        new_id_number = changed.get(ProfileField.ID_NUMBER)
        if new_id_number is not None:
            taken = (
                User.objects.filter(id_number=new_id_number).exclude(pk=account.pk).exists()
                or PersonProfile.objects.filter(id_number=new_id_number).exclude(pk=profile.pk).exists()
            )
            if taken:
                raise IdentityError("id_number_taken", "该身份证号已被其他账户使用", "id_number")
            changed[ProfileField.BIRTH_DATE.value] = id_number_birth_date(str(new_id_number))
            if account.username == account.id_number:  # the ID number is the login name (henan, gansu)
                if User.objects.filter(username=new_id_number).exclude(pk=account.pk).exists():
                    raise IdentityError("id_number_taken", "该身份证号已被其他账户使用", "id_number")
                account.username = str(new_id_number)
                account_fields.append("username")
            account.id_number = str(new_id_number)
            account_fields.append("id_number")
        if ProfileField.NAME in changed:
            account.name = str(changed[ProfileField.NAME])
            account_fields.append("name")
        for name, value in changed.items():
            setattr(profile, name, value)
        profile.save(update_fields=list(changed))
        if account_fields:
            account.save(update_fields=account_fields)
        if staff is None:
            audit_record(
                actor=user, action="profile.update", target=profile, data={"fields": sorted(changed)}
            )
        else:
            audit_record(
                actor=staff,
                action="profile.staff_update",
                target=profile,
                data={"changes": {name: [previous[name], str(value)] for name, value in changed.items()}},
            )
    return profile


# --- invoice titles and mailing addresses -------------------------------------------------------


@dataclass(frozen=True)
class InvoiceTitleData:
    title: str
    tax_number: str = ""
    address_phone: str = ""
    bank_account: str = ""
    email: str = ""
    mailing_address: str = ""
    is_default: bool = False


@dataclass(frozen=True)
class AddressData:
    recipient: str
    phone: str
    province_city: str
    street: str
    postcode: str = ""
    is_default: bool = False


def _owner_kwargs(user: User) -> dict[str, object]:
    if user.kind == UserKind.COMPANY and user.company_id is not None:
        return {"company_id": user.company_id}
    return {"owner": user}


def _same_owner(row: InvoiceTitle | MailingAddress) -> Q:
    return Q(company_id=row.company_id) if row.company_id else Q(owner_id=row.owner_id)


def _clear_other_defaults(row: InvoiceTitle | MailingAddress) -> None:
    """Only one default per owner: lock the owner's rows (in id order) and unset the others."""
    model = type(row)
    siblings = model.objects.select_for_update().filter(_same_owner(row)).order_by("id")
    list(siblings.values_list("id", flat=True))
    siblings.exclude(pk=row.pk).filter(is_default=True).update(is_default=False)


def _clean_text(model: type[Model], name: str, value: object, label: str, *, required: bool) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise IdentityError(f"{name}_required", f"请填写{label}", name)
    max_length = model._meta.get_field(name).max_length
    if max_length and len(text) > max_length:
        raise IdentityError("field_too_long", f"{label}最多 {max_length} 个字符", name)
    return text


def _invoice_title_clean(values: dict[str, object]) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    for name, value in values.items():
        if name == "is_default":
            cleaned[name] = bool(value)
            continue
        label = str(InvoiceTitle._meta.get_field(name).verbose_name)
        text = _clean_text(InvoiceTitle, name, value, label, required=name == "title")
        if name == "tax_number":
            text = re.sub(r"\s+", "", text).upper()
            if text and not _TAX_NUMBER.match(text):
                raise IdentityError("tax_number_invalid", "税号为 15 至 20 位数字或大写字母", name)
        if name == "email" and text:
            try:
                validate_email(text)
            except ValidationError as error:
                raise IdentityError("email_invalid", "电子邮箱格式不正确", name) from error
        cleaned[name] = text
    return cleaned


def _address_clean(values: dict[str, object]) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    for name, value in values.items():
        if name == "is_default":
            cleaned[name] = bool(value)
            continue
        label = str(MailingAddress._meta.get_field(name).verbose_name)
        text = _clean_text(MailingAddress, name, value, label, required=name != "postcode")
        if name == "phone" and (
            not _PHONE_CHARACTERS.match(text) or sum(character.isdigit() for character in text) < 7
        ):
            raise IdentityError("phone_invalid", "联系电话格式不正确", name)
        if name == "postcode" and text and not _POSTCODE.match(text):
            raise IdentityError("postcode_invalid", "邮编为 6 位数字", name)
        cleaned[name] = text
    return cleaned


_INVOICE_TITLE_FIELDS = {field.name for field in InvoiceTitle._meta.fields} - {"id", "owner", "company"}
_ADDRESS_FIELDS = {field.name for field in MailingAddress._meta.fields} - {"id", "owner", "company"}


def _unknown_fields(changes: dict[str, object], allowed: set[str]) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise IdentityError("field_unknown", f"未知的字段：{'、'.join(unknown)}", unknown[0])


def _saved_item_create(*, user: User, model, values: dict, action: str):
    with transaction.atomic():
        item = model.objects.create(**_owner_kwargs(user), **values)
        if item.is_default:
            _clear_other_defaults(item)
        audit_record(actor=user, action=f"{action}.create", target=item, data={})
    return item


def _saved_item_update(*, user: User, item, values: dict, action: str):
    """Write the changed values of an owner's saved item; a new default unsets the owner's others."""
    with transaction.atomic():
        locked = type(item).objects.select_for_update().get(pk=item.pk)
        changed = {name: value for name, value in values.items() if getattr(locked, name) != value}
        if not changed:
            return locked
        for name, value in changed.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(changed))
        if changed.get("is_default"):
            _clear_other_defaults(locked)
        audit_record(actor=user, action=f"{action}.update", target=locked, data={"fields": sorted(changed)})
    return locked


def _saved_item_delete(*, user: User, item, action: str, data: dict) -> None:
    with transaction.atomic():
        audit_record(actor=user, action=f"{action}.delete", target=item, data=data)
        type(item).objects.filter(pk=item.pk).delete()


def invoice_title_create(*, user: User, data: InvoiceTitleData) -> InvoiceTitle:
    """Save an invoice title (发票抬头) for `user` (for a company operator: for their company).

    Raises IdentityError: `title_required`, `tax_number_invalid`, `email_invalid`, `field_too_long`.
    """
    values = _invoice_title_clean(data.__dict__)
    return _saved_item_create(user=user, model=InvoiceTitle, values=values, action="invoice_title")


def invoice_title_update(*, user: User, title: InvoiceTitle, changes: dict[str, object]) -> InvoiceTitle:
    """Change fields of an invoice title that `user` owns (fetched with `invoice_title_get_for_owner`).

    Setting `is_default` unsets the owner's other defaults. Raises IdentityError: `field_unknown`
    and the validation codes of `invoice_title_create`; InvoiceTitle.DoesNotExist when the title
    vanished meanwhile.
    """
    _unknown_fields(changes, _INVOICE_TITLE_FIELDS)
    return _saved_item_update(
        user=user, item=title, values=_invoice_title_clean(changes), action="invoice_title"
    )


def invoice_title_delete(*, user: User, title: InvoiceTitle) -> None:
    """Delete an invoice title that `user` owns. Orders keep their own copy of the invoice data."""
    _saved_item_delete(user=user, item=title, action="invoice_title", data={"title": title.title})


def address_create(*, user: User, data: AddressData) -> MailingAddress:
    """Save a mailing address for `user` (for a company operator: for their company).

    Raises IdentityError: `recipient_required`, `phone_required`, `province_city_required`,
    `street_required`, `phone_invalid`, `postcode_invalid`, `field_too_long`.
    """
    return _saved_item_create(
        user=user, model=MailingAddress, values=_address_clean(data.__dict__), action="address"
    )


def address_update(*, user: User, address: MailingAddress, changes: dict[str, object]) -> MailingAddress:
    """Change fields of a mailing address that `user` owns (fetched with `address_get_for_owner`).

    Setting `is_default` unsets the owner's other defaults. Raises IdentityError: `field_unknown`
    and the validation codes of `address_create`.
    """
    _unknown_fields(changes, _ADDRESS_FIELDS)
    return _saved_item_update(user=user, item=address, values=_address_clean(changes), action="address")


def address_delete(*, user: User, address: MailingAddress) -> None:
    """Delete a mailing address that `user` owns."""
    _saved_item_delete(user=user, item=address, action="address", data={})


def practice_certificate_add(
    *, profile: PersonProfile, actor: User, kind: str, number: str
) -> PracticeCertificate:
    """Add a practice-qualification certificate (执业资格证书) to a person's full personnel profile.

    The caller has already checked that `actor` may edit `profile` (the person, or their company).
    Raises IdentityError("certificate_incomplete") when the type or number is missing.
    """
    kind, number = kind.strip(), number.strip()
    if not kind or not number:
        raise IdentityError(
            "certificate_incomplete", "请填写证书类型和证书编号", "number" if kind else "kind"
        )
    with transaction.atomic():
        certificate = PracticeCertificate.objects.create(profile=profile, kind=kind[:50], number=number[:50])
        audit_record(
            actor=actor,
            action="practice_certificate.add",
            target=profile,
            data={"kind": certificate.kind, "number": certificate.number},
        )
    return certificate


def practice_certificate_delete(*, certificate: PracticeCertificate, actor: User) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="practice_certificate.delete",
            target=certificate.profile,
            data={"kind": certificate.kind, "number": certificate.number},
        )
        certificate.delete()

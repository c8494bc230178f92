"""The person's own profile form, and the invoice titles and mailing addresses that a person or a
company operator keeps to choose from later when paying (模板管理: 发票管理 / 物流信息管理).

Views validate the form, call one service of `profile_services` and render. Rows named by an id in the
URL are fetched through the owner-scoped selectors, so another owner's id (or another association's,
whose rows live in another schema) is a 404.
"""

import copy
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from shared.accounts import profile_services
from shared.accounts.identity import IdentityError
from shared.accounts.models import Gender, InvoiceTitle, MailingAddress, PersonProfile, User, UserKind
from shared.accounts.profile_services import AddressData, InvoiceTitleData, ProfileFieldsLocked
from shared.accounts.selectors import (
    address_get_for_owner,
    addresses_for_owner,
    invoice_title_get_for_owner,
    invoice_titles_for_owner,
    profile_get_for_user,
)
from shared.permissions import company_required, person_required
from tenant_configs.schema import PROFILE_FIELD_LABELS, ProfileField, Rules
from tenant_configs.selectors import rules_current

LOCKED_ON_SUBMIT_NOTE = "已提交，信息不能修改"
LOCKED_ON_ENROLMENT_NOTE = "已报名，信息不能修改"


def person_or_company_required(view):
    """A person (their own rows) or a company operator (their company's rows), as the shared
    permission decorators define them."""
    as_person = person_required(view)
    as_company = company_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and request.user.kind == UserKind.COMPANY:
            return as_company(request, *args, **kwargs)
        return as_person(request, *args, **kwargs)

    return wrapper


def _show_error(form: forms.Form, error: IdentityError, notes: dict[str, str] | None = None) -> None:
    """Put a service refusal next to the field it names (a lock refusal: next to every locked field)."""
    if isinstance(error, ProfileFieldsLocked):
        for name in error.fields:
            form.add_error(name if name in form.fields else None, (notes or {}).get(name, error.message))
        return
    form.add_error(error.field if error.field in form.fields else None, error.message)


# --- profile ------------------------------------------------------------------------------------


def _profile_form_field(field: ProfileField) -> forms.Field:
    # Nothing is required here: the service checks the values and answers in the association's words.
    label = PROFILE_FIELD_LABELS[field]
    if field == ProfileField.GENDER:
        return forms.ChoiceField(
            label=label, choices=Gender.choices, widget=forms.RadioSelect, required=False
        )
    if field in (ProfileField.BIRTH_DATE, ProfileField.WORK_START_DATE):
        widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        return forms.DateField(label=label, required=False, widget=widget)
    if field == ProfileField.EMAIL:
        return forms.CharField(label=label, required=False, widget=forms.EmailInput)
    return forms.CharField(label=label, required=False)


class ProfileForm(forms.Form):
    """One field per profile field shown. Only fields present in the submitted data become changes:
    a locked field has no input on the page, so it arrives only when someone forges it, and then
    the service refuses the whole change."""

    def __init__(self, *args, shown: tuple[ProfileField, ...], **kwargs):
        super().__init__(*args, **kwargs)
        for field in shown:
            self.fields[field.value] = _profile_form_field(field)

    def changes(self) -> dict[str, object]:
        return {
            name: value for name, value in self.cleaned_data.items() if self.add_prefix(name) in self.data
        }


def _profile_fields_shown(rules: Rules, profile: PersonProfile) -> tuple[ProfileField, ...]:
    """The fields the rules show that this page edits: not the photo or practice certificates (their
    own flows, outside `PROFILE_COLUMNS`), not the phone (SMS-verified flow), and not the self-typed
    company name once the person belongs to a company."""
    return tuple(
        field
        for field in rules.identity.profile_fields()
        if field.value in profile_services.PROFILE_COLUMNS
        and field != ProfileField.PHONE
        and not (field == ProfileField.COMPANY_NAME and profile.company_id)
    )


def _lock_notes(rules: Rules, profile: PersonProfile) -> dict[str, str]:
    """Why each locked field is locked, from the service's own computation: what stays locked as if
    the person had not enrolled yet is locked by the submission, the rest by the enrolment."""
    locked = profile_services.profile_locked_fields(rules=rules, profile=profile)
    before_enrolment = copy.copy(profile)
    before_enrolment.first_enrolled_at = None
    by_submission = set(profile_services.profile_locked_fields(rules=rules, profile=before_enrolment))
    return {
        name: LOCKED_ON_SUBMIT_NOTE if name in by_submission else LOCKED_ON_ENROLMENT_NOTE for name in locked
    }


@dataclass(frozen=True)
class ProfileRow:
    field: forms.BoundField
    lock_note: str  # empty when the field can be edited
    value: object  # what a locked row shows


@person_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    try:
        profile = profile_get_for_user(user=request.user)
    except PersonProfile.DoesNotExist as error:
        raise Http404("没有个人资料") from error
    shown = _profile_fields_shown(rules, profile)
    notes = _lock_notes(rules, profile)
    form = ProfileForm(
        request.POST or None,
        shown=shown,
        initial={field.value: getattr(profile, field.value) for field in shown},
    )
    if request.method == "POST" and form.is_valid():
        try:
            profile_services.profile_update(rules=rules, user=request.user, changes=form.changes())
        except IdentityError as error:
            _show_error(form, error, notes)
        else:
            messages.success(request, "资料已保存。")
            return redirect("profile-edit")
    rows = [
        ProfileRow(
            field=form[field.value],
            lock_note=notes.get(field.value, ""),
            value=profile.get_gender_display()
            if field == ProfileField.GENDER
            else getattr(profile, field.value),
        )
        for field in shown
    ]
    return render(request, "accounts/profile_edit.html", {"form": form, "rows": rows, "profile": profile})


# --- invoice titles and mailing addresses -------------------------------------------------------


@dataclass(frozen=True)
class Headings:
    invoice_titles: str
    addresses: str


def _headings(user: User) -> Headings:
    if user.kind == UserKind.COMPANY:
        return Headings(invoice_titles="企业发票管理", addresses="企业物流信息管理")
    return Headings(invoice_titles="发票抬头", addresses="邮寄地址")


class InvoiceTitleForm(forms.Form):
    """The fields of `InvoiceTitleData` (the API's InvoiceTitleInput); the service checks the values."""

    title = forms.CharField(label="发票抬头（单位名称）", max_length=120)
    tax_number = forms.CharField(label="税号", max_length=30, required=False)
    address_phone = forms.CharField(label="单位地址、电话号码", max_length=200, required=False)
    bank_account = forms.CharField(label="开户银行及银行账户", max_length=200, required=False)
    email = forms.CharField(label="电子发票接收邮箱", max_length=254, required=False, widget=forms.EmailInput)
    mailing_address = forms.CharField(label="纸质发票邮寄地址", max_length=200, required=False)
    is_default = forms.BooleanField(label="设为默认", required=False)


class AddressForm(forms.Form):
    """The fields of `AddressData` (the API's AddressInput); the service checks the values."""

    recipient = forms.CharField(label="收件人", max_length=50)
    phone = forms.CharField(label="联系电话", max_length=20)
    province_city = forms.CharField(label="省市区", max_length=100)
    street = forms.CharField(label="详细地址", max_length=200)
    postcode = forms.CharField(label="邮编", max_length=6, required=False)
    is_default = forms.BooleanField(label="设为默认", required=False)


def _initial(form_class: type[forms.Form], row: InvoiceTitle | MailingAddress) -> dict[str, object]:
    return {name: getattr(row, name) for name in form_class.base_fields}


def _invoice_title_or_404(*, title_id: int, user: User) -> InvoiceTitle:
    try:
        return invoice_title_get_for_owner(title_id=title_id, user=user)
    except InvoiceTitle.DoesNotExist as error:
        raise Http404("发票抬头不存在") from error


def _address_or_404(*, address_id: int, user: User) -> MailingAddress:
    try:
        return address_get_for_owner(address_id=address_id, user=user)
    except MailingAddress.DoesNotExist as error:
        raise Http404("邮寄地址不存在") from error


@person_or_company_required
def invoice_titles(request: HttpRequest) -> HttpResponse:
    form = InvoiceTitleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            title = profile_services.invoice_title_create(
                user=request.user, data=InvoiceTitleData(**form.cleaned_data)
            )
        except IdentityError as error:
            _show_error(form, error)
        else:
            messages.success(request, f"已保存发票抬头“{title.title}”。")
            return redirect("invoice-titles")
    return render(
        request,
        "accounts/invoice_titles.html",
        {
            "form": form,
            "titles": invoice_titles_for_owner(user=request.user),
            "heading": _headings(request.user).invoice_titles,
        },
    )


@person_or_company_required
def invoice_title_edit(request: HttpRequest, title_id: int) -> HttpResponse:
    title = _invoice_title_or_404(title_id=title_id, user=request.user)
    form = InvoiceTitleForm(request.POST or None, initial=_initial(InvoiceTitleForm, title))
    if request.method == "POST" and form.is_valid():
        try:
            profile_services.invoice_title_update(
                user=request.user, title=title, changes=dict(form.cleaned_data)
            )
        except IdentityError as error:
            _show_error(form, error)
        except InvoiceTitle.DoesNotExist as error:  # deleted meanwhile
            raise Http404("发票抬头不存在") from error
        else:
            messages.success(request, "发票抬头已修改。")
            return redirect("invoice-titles")
    return render(
        request,
        "accounts/invoice_title_edit.html",
        {"form": form, "title": title, "heading": _headings(request.user).invoice_titles},
    )


@require_POST
@person_or_company_required
def invoice_title_delete(request: HttpRequest, title_id: int) -> HttpResponse:
    title = _invoice_title_or_404(title_id=title_id, user=request.user)
    profile_services.invoice_title_delete(user=request.user, title=title)
    messages.success(request, f"已删除发票抬头“{title.title}”。")
    return redirect("invoice-titles")


@person_or_company_required
def addresses(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            profile_services.address_create(user=request.user, data=AddressData(**form.cleaned_data))
        except IdentityError as error:
            _show_error(form, error)
        else:
            messages.success(request, "邮寄地址已保存。")
            return redirect("addresses")
    return render(
        request,
        "accounts/addresses.html",
        {
            "form": form,
            "addresses": addresses_for_owner(user=request.user),
            "heading": _headings(request.user).addresses,
        },
    )


@person_or_company_required
def address_edit(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address_or_404(address_id=address_id, user=request.user)
    form = AddressForm(request.POST or None, initial=_initial(AddressForm, address))
    if request.method == "POST" and form.is_valid():
        try:
            profile_services.address_update(
                user=request.user, address=address, changes=dict(form.cleaned_data)
            )
        except IdentityError as error:
            _show_error(form, error)
        except MailingAddress.DoesNotExist as error:  # deleted meanwhile
            raise Http404("邮寄地址不存在") from error
        else:
            messages.success(request, "邮寄地址已修改。")
            return redirect("addresses")
    return render(
        request,
        "accounts/address_edit.html",
        {"form": form, "address": address, "heading": _headings(request.user).addresses},
    )


@require_POST
@person_or_company_required
def address_delete(request: HttpRequest, address_id: int) -> HttpResponse:
    address = _address_or_404(address_id=address_id, user=request.user)
    profile_services.address_delete(user=request.user, address=address)
    messages.success(request, "邮寄地址已删除。")
    return redirect("addresses")


def practice_certificates(request: HttpRequest, profile_id: int) -> HttpResponse:
    """执业资格证书 of a person: the person themself, or their company (shanghai's full personnel profile)."""
    from shared.accounts.models import PracticeCertificate
    from shared.accounts.profile_services import practice_certificate_add, practice_certificate_delete
    from shared.accounts.selectors import profile_editable_by

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        profile = profile_editable_by(profile_id=profile_id, user=request.user)
    except PersonProfile.DoesNotExist as error:
        raise Http404 from error
    error_message = ""
    if request.method == "POST":
        if request.POST.get("delete"):
            certificate = PracticeCertificate.objects.filter(
                profile=profile, pk=request.POST["delete"]
            ).first()
            if certificate is None:
                raise Http404
            practice_certificate_delete(certificate=certificate, actor=request.user)
            return redirect("practice-certificates", profile_id=profile.pk)
        try:
            practice_certificate_add(
                profile=profile,
                actor=request.user,
                kind=request.POST.get("kind", ""),
                number=request.POST.get("number", ""),
            )
        except IdentityError as error:
            error_message = error.message
        else:
            return redirect("practice-certificates", profile_id=profile.pk)
    return render(
        request,
        "accounts/practice_certificates.html",
        {
            "profile": profile,
            "certificates": profile.practice_certificates.order_by("id"),
            "error": error_message,
        },
    )

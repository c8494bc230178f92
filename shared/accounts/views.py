"""Registration, login by password or SMS code, and the person's own pages."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from shared.accounts.forms import CompanyRegistrationForm, PersonRegistrationForm, SmsLoginForm
from shared.accounts.identity import (
    CompanyRegistration,
    IdentityError,
    PersonRegistration,
    company_register,
    login_refusal,
    person_register,
)
from shared.accounts.models import User, UserKind
from shared.sms import SmsError, sms_code_send, sms_code_verify
from shared.validation import IdentifierError, mask_id_number, normalise_mobile
from tenant_configs.schema import CompanyAccountCreation, PersonLoginMethod
from tenant_configs.selectors import rules_current

BACKEND = "shared.accounts.backends.RulesLoginBackend"
SMS_PURPOSES = {"register", "login", "password_reset"}


def _apply_error(form, error: IdentityError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def register_person(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    form = PersonRegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = person_register(
                rules=rules,
                registration=PersonRegistration(
                    name=form.cleaned_data["name"],
                    id_number=form.cleaned_data["id_number"],
                    phone=form.cleaned_data["phone"],
                    password=form.cleaned_data["password"],
                    sms_code=form.cleaned_data["sms_code"],
                ),
            )
        except IdentityError as error:
            _apply_error(form, error)
        else:
            refusal = login_refusal(rules=rules, user=user)
            if refusal:
                messages.info(request, f"注册成功。{refusal}")
                return redirect("login")
            login(request, user, backend=BACKEND)
            messages.success(request, "注册成功。")
            return redirect("me")
    by_id = PersonLoginMethod.ID_NUMBER_PASSWORD in rules.identity.person_login_methods
    return render(
        request,
        "accounts/register_person.html",
        {
            "form": form,
            "needs_sms": rules.identity.registration_requires_sms,
            "login_by_id": by_id,
        },
    )


def register_company(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    if rules.identity.company_account_creation != CompanyAccountCreation.SELF_REGISTRATION:
        return render(request, "accounts/company_registration_closed.html", status=403)
    form = CompanyRegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = company_register(
                rules=rules,
                registration=CompanyRegistration(
                    name=form.cleaned_data["name"],
                    uscc=form.cleaned_data["uscc"],
                    contact_name=form.cleaned_data["contact_name"],
                    phone=form.cleaned_data["phone"],
                    password=form.cleaned_data["password"],
                    sms_code=form.cleaned_data["sms_code"],
                ),
            )
        except IdentityError as error:
            _apply_error(form, error)
        else:
            login(request, user, backend=BACKEND)
            messages.success(request, "企业注册成功。")
            return redirect("company:members")
    return render(
        request,
        "accounts/register_company.html",
        {
            "form": form,
            "needs_sms": rules.identity.registration_requires_sms,
        },
    )


@require_POST
def sms_send(request: HttpRequest) -> JsonResponse:
    """Send a verification code. Rate limits live in shared.sms (per phone) and axes (logins)."""
    purpose = request.POST.get("purpose", "")
    if purpose not in SMS_PURPOSES:
        return JsonResponse({"code": "purpose_invalid", "message": "用途不正确"}, status=400)
    try:
        sms_code_send(phone=request.POST.get("phone", ""), purpose=purpose)
    except SmsError as error:
        status = 429 if error.code in {"sms_too_soon", "sms_daily_limit"} else 400
        return JsonResponse({"code": error.code, "message": error.message}, status=status)
    return JsonResponse({"code": "sent", "message": "验证码已发送，5 分钟内有效"})


def login_sms(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    if PersonLoginMethod.PHONE_SMS not in rules.identity.person_login_methods:
        return redirect("login")
    form = SmsLoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            phone = normalise_mobile(form.cleaned_data["phone"])
            user = User.objects.filter(phone=phone, kind=UserKind.PERSON, is_active=True).first()
            sms_code_verify(phone=phone, purpose="login", code=form.cleaned_data["sms_code"])
        except IdentifierError as error:
            form.add_error("phone", error.message)
        except SmsError as error:
            form.add_error("sms_code", error.message)
        else:
            refusal = login_refusal(rules=rules, user=user) if user else "该手机号尚未注册"
            if refusal:
                form.add_error(None, refusal)
            else:
                login(request, user, backend=BACKEND)
                return redirect("me")
    return render(request, "accounts/login_sms.html", {"form": form})


@login_required
def me(request: HttpRequest) -> HttpResponse:
    profile = getattr(request.user, "profile", None)
    return render(
        request,
        "accounts/me.html",
        {
            "profile": profile,
            "masked_id": mask_id_number(profile.id_number) if profile else "",
        },
    )


def password_reset(request: HttpRequest) -> HttpResponse:
    from shared.accounts.forms import PasswordResetForm
    from shared.accounts.identity import password_reset_by_sms

    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_by_sms(
                rules=rules_current(),
                phone=form.cleaned_data["phone"],
                code=form.cleaned_data["sms_code"],
                password=form.cleaned_data["password"],
            )
        except IdentityError as error:
            _apply_error(form, error)
        else:
            messages.success(request, "密码已重置，请用新密码登录。")
            return redirect("login")
    return render(request, "accounts/password_reset.html", {"form": form, "sms_purpose": "password_reset"})


@login_required
def real_name(request: HttpRequest) -> HttpResponse:
    from shared.accounts.forms import RealNameForm
    from shared.accounts.identity import real_name_verify

    form = RealNameForm(request.POST or None, initial={"name": request.user.name})
    if request.method == "POST" and form.is_valid():
        try:
            real_name_verify(
                user=request.user, name=form.cleaned_data["name"], id_number=form.cleaned_data["id_number"]
            )
        except IdentityError as error:
            _apply_error(form, error)
        else:
            messages.success(request, "实名认证已通过。")
            return redirect("me")
    return render(request, "accounts/real_name.html", {"form": form})

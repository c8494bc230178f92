"""Pages every tenant site has: home, login/logout, invitation acceptance, the staff console shell."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from shared.accounts.forms import PasswordConfirmationForm, RulesAuthenticationForm
from shared.accounts.services import InvitationError, invitation_accept, invitation_get_usable
from shared.models import AuditEntry
from shared.permissions import staff_required


def home(request: HttpRequest) -> HttpResponse:
    from shared.notices.selectors import home_board

    return render(request, "shared/home.html", {"board": home_board(user=request.user)})


def ping(request: HttpRequest) -> HttpResponse:
    """The smallest tenant page: which association answered. Used by probes and `make bench`."""
    return JsonResponse({"association": request.tenant.slug, "ok": True})


class SiteLoginView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = RulesAuthenticationForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["rules"] = _tenant_rules(self.request)
        return kwargs

    def get_default_redirect_url(self):
        user = self.request.user
        if getattr(self.request, "tenant", None) is None or self.request.tenant.schema_name == "public":
            return super().get_default_redirect_url()
        if user.is_association_staff:
            return reverse("console:home")
        if user.kind == "company" and user.company_id:
            return reverse("company:members")
        if user.kind == "person":
            return reverse("me")
        if user.kind == "institution":
            return reverse("review:queue")
        return super().get_default_redirect_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rules = _tenant_rules(self.request)
        if rules is not None:
            context["sms_login"] = "phone_sms" in rules.identity.person_login_methods
            context["company_registration"] = rules.identity.company_account_creation == "self_registration"
        return context


def _tenant_rules(request):
    from shared.accounts.backends import request_rules

    return request_rules(request)


class SiteLogoutView(LogoutView):
    pass


class InvitationAcceptForm(PasswordConfirmationForm):
    username = forms.CharField(label="登录名", max_length=64)
    name = forms.CharField(label="姓名", max_length=100, required=False)
    password = forms.CharField(label="密码", widget=forms.PasswordInput, min_length=8)
    password_again = forms.CharField(label="再次输入密码", widget=forms.PasswordInput)


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_get_usable(token=token)
    if invitation is None:
        return render(request, "shared/invitation_invalid.html", status=404)
    form = InvitationAcceptForm(request.POST or None, initial={"name": invitation.name})
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
            )
        except InvitationError as error:
            form.add_error(None, error.message)
        else:
            login(request, user, backend="shared.accounts.backends.RulesLoginBackend")
            messages.success(request, "账户已创建，欢迎使用。")
            return redirect("console:home" if user.is_association_staff else "home")
    return render(request, "shared/invitation_accept.html", {"form": form, "invitation": invitation})


@staff_required()
def console_home(request: HttpRequest) -> HttpResponse:
    from tenant_configs.selectors import rules_current_version

    return render(
        request,
        "console/home.html",
        {
            "console_section": "home",
            "rules_version": rules_current_version(),
            "recent_audit": AuditEntry.objects.all()[:10],
        },
    )


@staff_required("admin")
def console_audit(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.all()[:200]
    return render(
        request,
        "console/audit.html",
        {"console_section": "audit", "entries": entries},
    )


@staff_required("admin")
def console_people(request: HttpRequest) -> HttpResponse:
    """Association admin: issue company accounts (activation link) and invite staff / institutions."""
    from shared.accounts.forms import InviteStaffForm, IssueCompanyForm
    from shared.accounts.identity import IdentityError, company_issue
    from shared.accounts.models import Company
    from shared.accounts.services import invitation_create
    from tenant_configs.selectors import rules_current

    issue_form = IssueCompanyForm(request.POST if request.POST.get("action") == "issue" else None)
    invite_form = InviteStaffForm(request.POST if request.POST.get("action") == "invite" else None)
    link = None
    if request.method == "POST" and request.POST.get("action") == "issue" and issue_form.is_valid():
        try:
            _company, issued = company_issue(
                rules=rules_current(), actor=request.user, **issue_form.cleaned_data
            )
        except IdentityError as error:
            issue_form.add_error(error.field if error.field in issue_form.fields else None, error.message)
        else:
            link = request.build_absolute_uri(f"/invite/{issued.token}/")
    if request.method == "POST" and request.POST.get("action") == "invite" and invite_form.is_valid():
        data = invite_form.cleaned_data
        issued = invitation_create(
            kind=data["kind"],
            staff_roles=data["roles"] if data["kind"] == "staff" else [],
            name=data["name"],
            created_by_label=request.user.username,
        )
        link = request.build_absolute_uri(f"/invite/{issued.token}/")
    return render(
        request,
        "console/people.html",
        {
            "console_section": "people",
            "issue_form": issue_form,
            "invite_form": invite_form,
            "link": link,
            "companies": Company.objects.order_by("-created_at")[:50],
        },
    )


@staff_required()
def console_persons(request: HttpRequest) -> HttpResponse:
    """People of the association, ID numbers and phones masked; search by name, phone or ID number."""
    from shared.accounts.models import PersonProfile
    from shared.validation import mask_id_number, mask_phone

    query = request.GET.get("q", "").strip()
    profiles = PersonProfile.objects.select_related("company").order_by("-created_at")
    if query:
        profiles = profiles.filter(Q(name__icontains=query) | Q(phone=query) | Q(id_number=query.upper()))
    rows = [
        {
            "profile": profile,
            "id_number": mask_id_number(profile.id_number),
            "phone": mask_phone(profile.phone),
        }
        for profile in profiles[:100]
    ]
    return render(
        request, "console/persons.html", {"console_section": "persons", "rows": rows, "query": query}
    )


@staff_required("reviewer")
def console_person_detail(request: HttpRequest, profile_id: int) -> HttpResponse:
    """The full record, for reviewers and admins only; every view is audit-logged (DESIGN §8)."""
    from shared.accounts.identity import IdentityError
    from shared.accounts.models import PersonProfile
    from shared.accounts.profile_services import profile_update
    from shared.services import audit_record
    from tenant_configs.schema import PROFILE_FIELD_LABELS, ProfileField
    from tenant_configs.selectors import rules_current

    profile = PersonProfile.objects.select_related("user", "company").filter(pk=profile_id).first()
    if profile is None:
        raise Http404
    rules = rules_current()
    editable = [
        field
        for field in rules.identity.profile_fields()
        if field
        not in (
            ProfileField.PHOTO,
            ProfileField.PRACTICE_CERTIFICATES,
            ProfileField.PHONE,
            ProfileField.COMPANY_NAME,
            ProfileField.GENDER,
            ProfileField.BIRTH_DATE,
            ProfileField.WORK_START_DATE,
        )
    ]
    error = ""
    if request.method == "POST":
        changes = {
            field.value: request.POST.get(field.value, "")
            for field in editable
            if field.value in request.POST
        }
        try:
            profile_update(rules=rules, user=profile.user, changes=changes, staff=request.user)
        except IdentityError as refusal:
            error = refusal.message
        else:
            messages.success(request, "已修改，修改内容已记入操作记录。")
            return redirect("console:person", profile_id=profile.pk)
    else:
        audit_record(actor=request.user, action="person.view_full_record", target=profile)
    fields = [(field.value, PROFILE_FIELD_LABELS[field], getattr(profile, field.value)) for field in editable]
    return render(
        request,
        "console/person_detail.html",
        {
            "console_section": "persons",
            "profile": profile,
            "fields": fields,
            "error": error,
        },
    )

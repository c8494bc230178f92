"""The operator console on the platform's own host: associations, onboarding, suspension, domains."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from shared.models import AuditEntry
from shared.permissions import operator_required
from tenant_configs.loader import RulesFileError, load_rules_data, load_rules_text, rules_to_data
from tenant_configs.selectors import rules_current
from tenants.forms import DomainForm, OnboardForm, SuspendForm
from tenants.models import Association
from tenants.selectors import tenant_get, tenant_list_for_operator
from tenants.services import (
    TenantError,
    domain_add,
    tenant_invite_admin,
    tenant_onboard,
    tenant_resume,
    tenant_suspend,
)

MAX_RULES_FILE_BYTES = 512 * 1024


@operator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    rows = tenant_list_for_operator()
    return render(request, "operator/dashboard.html", {"rows": rows})


def _rules_from_form(form: OnboardForm):
    data = form.cleaned_data
    if data.get("rules_file"):
        upload = data["rules_file"]
        text = upload.read().decode("utf-8-sig", errors="replace")
        rules = load_rules_text(text, source=upload.name)
        payload = rules_to_data(rules)
        source = upload.name
    else:
        source_tenant: Association = data["clone_from"]
        with schema_context(source_tenant.schema_name):
            payload = rules_to_data(rules_current())
        source = f"复制自 {source_tenant.slug}"
    overrides = {key: data[key] for key in ("slug", "name", "short_name", "province") if data.get(key)}
    payload["association"] = {**payload.get("association", {}), **overrides}
    return load_rules_data(payload, source=source)


@operator_required
def onboard(request: HttpRequest) -> HttpResponse:
    form = OnboardForm(request.POST or None, request.FILES or None)
    problems = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("rules_file")
        if upload is not None and upload.size > MAX_RULES_FILE_BYTES:
            form.add_error("rules_file", "规则文件过大（最大 512 KB）。")
        else:
            try:
                rules = _rules_from_form(form)
                result = tenant_onboard(
                    rules=rules,
                    hostname=form.cleaned_data.get("hostname") or None,
                    actor=request.user,
                    admin_name=form.cleaned_data.get("admin_name", ""),
                    admin_email=form.cleaned_data.get("admin_email", ""),
                )
            except RulesFileError as error:
                problems = error.problems
            except TenantError as error:
                form.add_error(None, error.message)
            else:
                return render(
                    request,
                    "operator/onboarded.html",
                    {
                        "result": result,
                        "invite_url": _invite_url(request, result.domain.domain, result.invitation.token),
                    },
                )
    return render(request, "operator/onboard.html", {"form": form, "problems": problems})


def _invite_url(request: HttpRequest, hostname: str, token: str) -> str:
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    host = hostname if port in ("", default_port) else f"{hostname}:{port}"
    scheme = "https" if request.is_secure() else "http"
    return f"{scheme}://{host}/invite/{token}/"


def _tenant_or_404(slug: str) -> Association:
    try:
        return tenant_get(slug=slug)
    except Association.DoesNotExist as error:
        raise Http404 from error


@operator_required
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    audit = AuditEntry.objects.filter(object_type="tenants.association", object_id=str(tenant.pk))[:20]
    return render(
        request,
        "operator/tenant_detail.html",
        {
            "tenant": tenant,
            "domains": tenant.domains.order_by("-is_primary", "domain"),
            "usage": tenant.usage_snapshots.first(),
            "audit": audit,
            "suspend_form": SuspendForm(),
            "domain_form": DomainForm(),
        },
    )


@operator_required
@require_POST
def tenant_suspend_view(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    form = SuspendForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    tenant_suspend(tenant=tenant, actor=request.user, reason=reason)
    messages.success(request, f"已暂停 {tenant.name}。")
    return redirect("operator:tenant", slug=slug)


@operator_required
@require_POST
def tenant_resume_view(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    tenant_resume(tenant=tenant, actor=request.user)
    messages.success(request, f"已恢复 {tenant.name}。")
    return redirect("operator:tenant", slug=slug)


@operator_required
@require_POST
def tenant_domain_add_view(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            domain_add(
                tenant=tenant,
                hostname=form.cleaned_data["hostname"],
                actor=request.user,
                primary=form.cleaned_data["primary"],
            )
        except TenantError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "已添加域名。")
    else:
        messages.error(request, "请填写域名。")
    return redirect("operator:tenant", slug=slug)


@operator_required
@require_POST
def tenant_invite_view(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    issued = tenant_invite_admin(tenant=tenant, actor=request.user)
    domain = tenant.get_primary_domain()
    return render(
        request,
        "operator/invited.html",
        {
            "tenant": tenant,
            "invite_url": _invite_url(request, domain.domain, issued.token),
            "invitation": issued.invitation,
        },
    )

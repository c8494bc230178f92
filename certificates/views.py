"""Certificate pages: the public verification page, a holder's (or company's) certificates with their PDFs,
and the staff console (search, revoke with a reason, batch issuance with a progress bar)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from certificates import selectors, services
from certificates.models import Certificate, CertificateBatch, CertificateStatus
from certificates.numbering import mask_name
from registration.models import Program
from shared.accounts.models import UserKind
from shared.permissions import staff_required
from tenant_configs.selectors import rules_current

# Staff who may revoke certificates and start batches (admins hold every role).
ISSUING_ROLES = ("academic",)


def _not_found(request: HttpRequest) -> HttpResponse:
    response = render(request, "certificates/verify_not_found.html", status=404)
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def verify(request: HttpRequest, code: str) -> HttpResponse:
    """Public, no login. Unknown, malformed and other tenants' codes get the same plain 404 page."""
    rules = rules_current()
    if not rules.certificates.registry_enabled:
        return _not_found(request)
    try:
        certificate = selectors.certificate_get_by_code(code=code)
    except Certificate.DoesNotExist:
        return _not_found(request)
    snapshot = certificate.holder_snapshot
    response = render(
        request,
        "certificates/verify.html",
        {
            "certificate": certificate,
            "state": certificate.state(),
            "state_label": certificate.state_label(),
            "holder_name": mask_name(snapshot.get("name", "")),
            "id_number": snapshot.get("id_number_masked", ""),
            "issuer": rules.association.name,
        },
    )
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "no-cache"  # the status is live: revocation shows at once
    return response


@require_GET
def verify_lookup(request: HttpRequest) -> HttpResponse:
    """Typing in the code printed under the QR code (验证码): the same page as scanning it."""
    code = request.GET.get("code", "").strip()
    if code:
        return redirect("certificates:verify", code=code)
    response = render(request, "certificates/verify_lookup.html")
    response["X-Robots-Tag"] = "noindex"
    return response


@login_required
def my_certificates(request: HttpRequest) -> HttpResponse:
    """我的证书 for a person; a company operator sees the certificates of its people."""
    user = request.user
    if user.kind == UserKind.STAFF:
        return redirect("certificates:console")
    certificates = list(selectors.certificates_visible_to(viewer=user)[:500])
    rules = rules_current()
    institutions = {item.code: item.name for item in rules.organizations.institutions}
    # Continuing education: hours this cycle per renewable certificate, and where the holder enrols.
    continuing = rules.certificates.continuing_education
    renewable = [
        certificate
        for certificate in certificates
        if continuing.enabled
        and certificate.status != CertificateStatus.REVOKED
        and certificate.kind not in selectors.CE_EXCLUDED_KINDS
    ]
    progress = selectors.ce_progress_for(rules=rules, certificates=renewable)
    ce_program = selectors.ce_program(rules=rules) if user.kind == UserKind.PERSON and renewable else None
    rows = [
        {
            "certificate": certificate,
            "state": certificate.state(),
            "state_label": certificate.state_label(),
            "holder_name": certificate.holder_snapshot.get("name", ""),
            # henan's registry: who issued it, where the training was, the employer at issuance.
            "issuer": rules.association.name,
            "institution": institutions.get(
                certificate.application.session.institution_code
                if certificate.application_id and certificate.application.session_id
                else "",
                "",
            ),
            "employer": certificate.holder_snapshot.get("company_name", ""),
            "ce": progress.get(certificate.pk),
            "ce_enrol_url": (
                f"{reverse('training:wizard', args=[ce_program.pk])}?"
                f"{urlencode({'certificate_number': certificate.number})}"
                if ce_program is not None and certificate.pk in progress
                else ""
            ),
        }
        for certificate in certificates
    ]
    return render(
        request,
        "certificates/mine.html",
        {"rows": rows, "for_company": user.kind == UserKind.COMPANY, "ce_enabled": bool(renewable)},
    )


@login_required
def certificate_download(request: HttpRequest, certificate_id: int) -> HttpResponse:
    try:
        certificate = selectors.certificate_get_for_viewer(certificate_id=certificate_id, viewer=request.user)
    except Certificate.DoesNotExist:
        raise Http404("未找到该证书") from None
    data = services.certificate_download(certificate=certificate, viewer=request.user)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificate-{certificate.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- staff console ----------------------------------------------------------------------------------


class BatchForm(forms.Form):
    kind_code = forms.ChoiceField(label="证书种类")
    program_id = forms.ChoiceField(label="培训项目")

    def __init__(self, *args, rules, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind_code"].choices = [(kind.code, kind.title) for kind in rules.certificates.kinds]
        self.fields["program_id"].choices = [
            (str(program.pk), program.name) for program in Program.objects.order_by("name")
        ]


@staff_required()
def console_list(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    query = request.GET.get("q", "").strip()
    kind_code = request.GET.get("kind", "")
    certificates = list(selectors.certificates_search(query=query, kind_code=kind_code)[:200])
    rows = [
        {
            "certificate": certificate,
            "state": certificate.state(),
            "state_label": certificate.state_label(),
            "holder_name": certificate.holder_snapshot.get("name", ""),
            "id_number": certificate.holder_snapshot.get("id_number_masked", ""),
        }
        for certificate in certificates
    ]
    user = request.user
    may_issue = "admin" in user.staff_roles or any(role in user.staff_roles for role in ISSUING_ROLES)
    return render(
        request,
        "certificates/console_list.html",
        {
            "console_section": "certificates",
            "rows": rows,
            "query": query,
            "kind_code": kind_code,
            "kinds": rules.certificates.kinds,
            "may_issue": may_issue,
            "ce_enabled": rules.certificates.continuing_education.enabled,
            "batch_form": BatchForm(rules=rules),
            "batches": CertificateBatch.objects.all()[:10],
        },
    )


@staff_required(*ISSUING_ROLES)
@require_POST
def console_revoke(request: HttpRequest, certificate_id: int) -> HttpResponse:
    try:
        certificate = services.certificate_revoke(
            certificate_id=certificate_id, actor=request.user, reason=request.POST.get("reason", "")
        )
    except Certificate.DoesNotExist:
        raise Http404("未找到该证书") from None
    except services.CertificateError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"证书 {certificate.number} 已撤销")
    return redirect(f"{reverse('certificates:console')}?{urlencode({'q': request.POST.get('q', '')})}")


@staff_required(*ISSUING_ROLES)
@require_POST
def console_batch_start(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    form = BatchForm(request.POST, rules=rules)
    if not form.is_valid():
        messages.error(request, "请选择证书种类和培训项目")
        return redirect("certificates:console")
    try:
        batch = services.certificate_batch_start(
            rules=rules,
            kind_code=form.cleaned_data["kind_code"],
            program_id=int(form.cleaned_data["program_id"]),
            actor=request.user,
        )
    except Program.DoesNotExist:
        raise Http404 from None
    except services.CertificateError as error:
        messages.error(request, error.message)
        return redirect("certificates:console")
    return redirect("certificates:batch", batch_id=batch.pk)


@staff_required()
def console_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    try:
        batch = selectors.batch_get(batch_id=batch_id)
    except CertificateBatch.DoesNotExist:
        raise Http404 from None
    template = "certificates/_batch_progress.html" if request.htmx else "certificates/console_batch.html"
    return render(request, template, {"console_section": "certificates", "batch": batch})

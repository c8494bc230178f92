"""Staff console: record continuing-education hours (继续教育学时) against a certificate number."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from certificates import selectors
from certificates.continuing_education import RECORDING_ROLES, ContinuingEducationError, ce_hours_record
from certificates.models import Certificate
from shared.permissions import staff_required
from tenant_configs.selectors import rules_current

NUMBER_NOT_FOUND = "证书编号不存在"


def _certificate_panel(rules, number: str) -> dict:
    """The certificate a number names, with this cycle's progress and its recorded hours (for display)."""
    if not number:
        return {}
    try:
        certificate = selectors.certificate_get_by_number(number=number)
    except Certificate.DoesNotExist:
        return {}
    return {
        "certificate": certificate,
        "holder_name": certificate.holder_snapshot.get("name", ""),
        "state_label": certificate.state_label(),
        "progress": selectors.ce_progress(rules=rules, certificate=certificate),
        "hours_rows": list(selectors.ce_hours_rows(certificate=certificate)[:50]),
    }


@staff_required(*RECORDING_ROLES)
def console_ce_hours(request: HttpRequest) -> HttpResponse:
    """GET: the form (and the certificate of `?number=`); POST: record hours, or show why not."""
    rules = rules_current()
    enabled = rules.certificates.continuing_education.enabled
    values = {"number": request.GET.get("number", "").strip(), "hours": "", "note": ""}
    errors: dict[str, str] = {}
    if request.method == "POST" and enabled:
        values = {key: request.POST.get(key, "").strip() for key in ("number", "hours", "note")}
        try:
            certificate = selectors.certificate_get_by_number(number=values["number"])
        except Certificate.DoesNotExist:
            errors["number"] = NUMBER_NOT_FOUND
        else:
            try:
                row = ce_hours_record(
                    rules=rules,
                    certificate_id=certificate.pk,
                    hours=values["hours"],
                    note=values["note"],
                    actor=request.user,
                )
            except Certificate.DoesNotExist:
                errors["number"] = NUMBER_NOT_FOUND
            except ContinuingEducationError as error:
                field = {"hours_invalid": "hours", "hours_out_of_range": "hours", "note_too_long": "note"}
                errors[field.get(error.code, "number")] = error.message
            else:
                messages.success(
                    request, f"已为证书 {certificate.number} 录入 {row.hours.normalize():f} 学时"
                )
                url = reverse("certificates:ce-hours")
                return redirect(f"{url}?{urlencode({'number': certificate.number})}")
    context = {
        "console_section": "certificates",
        "enabled": enabled,
        "values": values,
        "errors": errors,
        "hours_required": rules.certificates.continuing_education.hours_required,
        "cycle_years": rules.certificates.continuing_education.cycle_years,
        **_certificate_panel(rules, values["number"]),
    }
    return render(request, "certificates/console_ce_hours.html", context, status=422 if errors else 200)

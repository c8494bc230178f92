"""Association admins configure their own rules: one form per section, a diff, then publish."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from shared.permissions import staff_required
from tenant_configs.diff import rules_diff
from tenant_configs.editing import (
    SECTION_LABELS,
    rules_sections,
    section_apply,
    section_field_help,
    section_to_toml,
)
from tenant_configs.loader import RulesFileError, load_rules_data, rules_to_toml
from tenant_configs.models import RulesVersion
from tenant_configs.selectors import rules_current, rules_current_version, rules_version_list
from tenant_configs.services import RulesPublishError, rules_publish


@staff_required("admin")
def rules_overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "tenant_configs/overview.html",
        {
            "console_section": "rules",
            "sections": rules_sections(),
            "current": rules_current_version(),
            "versions": rules_version_list(),
        },
    )


@staff_required("admin")
def rules_section_edit(request: HttpRequest, section: str) -> HttpResponse:
    if section not in SECTION_LABELS:
        raise Http404
    current = rules_current()
    text = request.POST.get("toml", section_to_toml(current, section)) if request.method == "POST" else None
    context = {
        "console_section": "rules",
        "section": section,
        "section_label": SECTION_LABELS[section],
        "toml": text if text is not None else section_to_toml(current, section),
        "problems": [],
        "changes": None,
        "field_help": section_field_help(section),
    }
    if request.method == "POST":
        source = f"{SECTION_LABELS[section]}（{section}）"
        try:
            edit = section_apply(current=current, section=section, toml_text=text, source=source)
        except RulesFileError as error:
            context["problems"] = error.problems
        else:
            if request.POST.get("action") == "publish" and edit.changes:
                try:
                    version = rules_publish(
                        rules=edit.rules, actor=request.user, comment=request.POST.get("comment", "")[:200]
                    )
                except RulesPublishError as error:
                    context["problems"] = error.problems
                else:
                    messages.success(request, f"已发布规则第 {version.number} 版。")
                    return redirect("console:rules")
            context["changes"] = edit.changes
    return render(request, "tenant_configs/section_edit.html", context)


@staff_required("admin")
def rules_version_detail(request: HttpRequest, number: int) -> HttpResponse:
    version = RulesVersion.objects.filter(number=number).first()
    if version is None:
        raise Http404
    previous = RulesVersion.objects.filter(number__lt=number).order_by("-number").first()
    rules = load_rules_data(version.payload, source=f"v{number}")
    return render(
        request,
        "tenant_configs/version_detail.html",
        {
            "console_section": "rules",
            "version": version,
            "previous": previous,
            "changes": rules_diff(previous.payload if previous else {}, version.payload),
            "toml": rules_to_toml(rules),
        },
    )

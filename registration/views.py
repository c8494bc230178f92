"""Staff console: programs and their sessions (期次/班次). Academic staff and admins."""

from datetime import datetime

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from registration.models import Program, TrainingSession
from registration.services import (
    SessionChanges,
    SessionInput,
    SetupError,
    program_create,
    session_create,
    session_update,
)
from shared.money import MoneyError, format_yuan, yuan_to_fen
from shared.permissions import staff_required
from tenant_configs.selectors import rules_current, rules_current_version


class SessionForm(forms.Form):
    code = forms.CharField(label="班次编号", max_length=40)
    name = forms.CharField(label="班次名称", max_length=120)
    unit_code = forms.ChoiceField(label="分会/地区/地市", required=False)
    institution_code = forms.ChoiceField(label="培训机构", required=False)
    location = forms.CharField(label="培训地点", max_length=200, required=False)
    course_type = forms.CharField(label="课程类型", max_length=50, required=False)
    activity_type = forms.CharField(label="活动类型", max_length=50, required=False)
    major = forms.CharField(label="专业", max_length=50, required=False)
    capacity = forms.IntegerField(label="计划人数（0 不限）", min_value=0, initial=0)
    opens_at = forms.DateTimeField(
        label="报名开始", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    closes_at = forms.DateTimeField(
        label="报名结束", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    fee_yuan = forms.CharField(label="培训费（元，留空按规则）", required=False)
    materials_fee_yuan = forms.CharField(label="资料费（元，留空按规则）", required=False)

    def __init__(self, *args, rules, program_code: str, **kwargs):
        super().__init__(*args, **kwargs)
        program_rules = rules.program(program_code)
        units = [
            unit
            for unit in rules.organizations.units
            if not program_rules.unit_codes or unit.code in program_rules.unit_codes
        ]
        self.fields["unit_code"].choices = [("", "—")] + [(unit.code, unit.name) for unit in units]
        self.fields["institution_code"].choices = [("", "—")] + [
            (item.code, item.name) for item in rules.organizations.institutions
        ]

    def clean_fee_yuan(self) -> int | None:
        return self._fen("fee_yuan")

    def clean_materials_fee_yuan(self) -> int | None:
        return self._fen("materials_fee_yuan")

    def _fen(self, name: str) -> int | None:
        value = self.cleaned_data.get(name, "").strip()
        if not value:
            return None
        try:
            return yuan_to_fen(value)
        except MoneyError as error:
            raise forms.ValidationError("请填写金额，最多两位小数") from error


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


@staff_required("academic")
def programs(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    if request.method == "POST":
        try:
            program = program_create(rules=rules, code=request.POST.get("code", ""), actor=request.user)
        except SetupError as error:
            messages.error(request, error.message)
        else:
            return redirect("console:program", program_id=program.pk)
    opened = {program.code: program for program in Program.objects.all()}
    rows = [(program_rules, opened.get(program_rules.code)) for program_rules in rules.programs]
    return render(request, "registration/programs.html", {"console_section": "programs", "rows": rows})


@staff_required("academic")
def program_detail(request: HttpRequest, program_id: int) -> HttpResponse:
    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        raise Http404
    rules = rules_current()
    form = SessionForm(request.POST or None, rules=rules, program_code=program.code)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session_create(
                rules=rules,
                program=program,
                actor=request.user,
                data=SessionInput(
                    code=data["code"],
                    name=data["name"],
                    capacity=data["capacity"],
                    opens_at=_aware(data["opens_at"]),
                    closes_at=_aware(data["closes_at"]),
                    unit_code=data["unit_code"],
                    institution_code=data["institution_code"],
                    location=data["location"],
                    course_type=data["course_type"],
                    activity_type=data["activity_type"],
                    major=data["major"],
                    fee_fen=data["fee_yuan"],
                    materials_fee_fen=data["materials_fee_yuan"],
                ),
            )
        except SetupError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "已添加班次。")
            return redirect("console:program", program_id=program.pk)
    sessions = [
        {
            "session": session,
            "fee": format_yuan(session.fee_fen),
            "materials": format_yuan(session.materials_fee_fen),
        }
        for session in program.sessions.order_by("-opens_at", "code")
    ]
    return render(
        request,
        "registration/program_detail.html",
        {
            "console_section": "programs",
            "program": program,
            "sessions": sessions,
            "form": form,
        },
    )


class SessionEditForm(forms.Form):
    name = forms.CharField(label="班次名称", max_length=120)
    capacity = forms.IntegerField(label="计划人数（0 不限）", min_value=0)
    opens_at = forms.DateTimeField(
        label="报名开始", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    closes_at = forms.DateTimeField(
        label="报名结束", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    location = forms.CharField(label="培训地点", max_length=200, required=False)
    course_type = forms.CharField(label="课程类型", max_length=50, required=False)
    activity_type = forms.CharField(label="活动类型", max_length=50, required=False)
    major = forms.CharField(label="专业", max_length=50, required=False)


def _local_input(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M") if value else ""


@staff_required("academic")
def session_edit(request: HttpRequest, program_id: int, session_id: int) -> HttpResponse:
    session = (
        TrainingSession.objects.filter(pk=session_id, program_id=program_id).select_related("program").first()
    )
    if session is None:
        raise Http404
    initial = {name: getattr(session, name) for name in SessionEditForm.base_fields}
    initial.update(opens_at=_local_input(session.opens_at), closes_at=_local_input(session.closes_at))
    form = SessionEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session_update(
                session_id=session.pk,
                actor=request.user,
                rules_version=rules_current_version().number,
                data=SessionChanges(
                    **{**data, "opens_at": _aware(data["opens_at"]), "closes_at": _aware(data["closes_at"])}
                ),
            )
        except SetupError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "班次已保存。")
            return redirect("console:session", program_id=program_id, session_id=session.pk)
    counts = dict(
        session.applications.values_list("status").annotate(count=Count("pk")).values_list("status", "count")
    )
    return render(
        request,
        "registration/session_edit.html",
        {"console_section": "programs", "session": session, "form": form, "counts": counts},
    )

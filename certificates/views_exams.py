"""Exam pages: the staff console (sessions, seats, scores typed in or imported with row errors shown, the
review of passes) and 我的考试 for a person (tickets to print in the window, scores) or a company operator
(its people's). Thin: validate, call one service from certificates.exams, render."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from certificates import exams, selectors_exams
from certificates.models import ExamEntry, ExamSession, ExamSessionKind
from certificates.services import CertificateError
from registration.models import Program
from shared.accounts.models import UserKind
from shared.permissions import staff_required
from tenant_configs.selectors import rules_current

EXAM_ROLES = ("academic",)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ExamSessionForm(forms.Form):
    program_id = forms.ChoiceField(label="培训项目")
    name = forms.CharField(label="考试名称", max_length=120)
    kind = forms.ChoiceField(label="考试类型", choices=ExamSessionKind.choices)
    starts_at = forms.DateTimeField(label="考试时间", input_formats=DATETIME_FORMATS, widget=DATETIME_WIDGET)
    location = forms.CharField(label="考试地点", max_length=200)
    seats = forms.IntegerField(label="座位数", min_value=1, max_value=100000)
    print_opens_at = forms.DateTimeField(
        label="开始打印", input_formats=DATETIME_FORMATS, widget=DATETIME_WIDGET
    )
    print_closes_at = forms.DateTimeField(
        label="停止打印", input_formats=DATETIME_FORMATS, widget=DATETIME_WIDGET
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program_id"].choices = [
            (str(program.pk), program.name) for program in Program.objects.order_by("name")
        ]


class ScoreFileForm(forms.Form):
    file = forms.FileField(label="成绩表（.xlsx）")


# --- staff console ----------------------------------------------------------------------------------


@staff_required(*EXAM_ROLES)
def console_sessions(request: HttpRequest) -> HttpResponse:
    form = ExamSessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session = exams.exam_session_create(
                program_id=int(data["program_id"]),
                name=data["name"],
                kind=data["kind"],
                starts_at=data["starts_at"],
                location=data["location"],
                seats=data["seats"],
                print_opens_at=data["print_opens_at"],
                print_closes_at=data["print_closes_at"],
                actor=request.user,
            )
        except exams.ExamError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"已创建考试「{session.name}」")
            return redirect("certificates:exam-session", session_id=session.pk)
    sessions = ExamSession.objects.select_related("program")[:200]
    return render(
        request,
        "certificates/exams/console_sessions.html",
        {"console_section": "certificates", "sessions": sessions, "form": form},
    )


def _session_page(request: HttpRequest, session_id: int, **extra) -> HttpResponse:
    try:
        session = selectors_exams.exam_session_get(session_id=session_id)
    except ExamSession.DoesNotExist:
        raise Http404("未找到该考试") from None
    entries = list(selectors_exams.exam_session_entries(session_id=session.pk))
    return render(
        request,
        "certificates/exams/console_session.html",
        {
            "console_section": "certificates",
            "session": session,
            "entries": entries,
            "to_review": sum(
                1
                for entry in entries
                if hasattr(entry, "score") and entry.score.passed and not entry.score.pass_reviewed_at
            ),
            "file_form": ScoreFileForm(),
            **extra,
        },
    )


@staff_required(*EXAM_ROLES)
@require_GET
def console_session(request: HttpRequest, session_id: int) -> HttpResponse:
    return _session_page(request, session_id)


@staff_required(*EXAM_ROLES)
@require_POST
def console_assign(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        entries = exams.exam_seats_assign(rules=rules_current(), session_id=session_id, actor=request.user)
    except ExamSession.DoesNotExist:
        raise Http404 from None
    except exams.ExamError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已安排 {len(entries)} 人")
    return redirect("certificates:exam-session", session_id=session_id)


@staff_required(*EXAM_ROLES)
@require_POST
def console_score(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        entry_id = int(request.POST.get("entry_id", ""))
        if not ExamEntry.objects.filter(pk=entry_id, session_id=session_id).exists():
            raise ExamEntry.DoesNotExist
        exams.exam_score_enter(
            rules=rules_current(), entry_id=entry_id, score=request.POST.get("score", ""), actor=request.user
        )
    except (ValueError, ExamEntry.DoesNotExist):
        raise Http404 from None
    except exams.ExamError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "成绩已录入")
    return redirect("certificates:exam-session", session_id=session_id)


@staff_required(*EXAM_ROLES)
@require_POST
def console_import(request: HttpRequest, session_id: int) -> HttpResponse:
    form = ScoreFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "请选择成绩表文件")
        return redirect("certificates:exam-session", session_id=session_id)
    try:
        result = exams.exam_scores_import(
            rules=rules_current(),
            session_id=session_id,
            data=form.cleaned_data["file"].read(),
            actor=request.user,
        )
    except ExamSession.DoesNotExist:
        raise Http404 from None
    except exams.ExamError as error:
        return _session_page(request, session_id, import_error=error.message, row_errors=error.row_errors)
    messages.success(request, f"已导入 {result.imported} 条成绩，其中合格 {result.passed} 人")
    return redirect("certificates:exam-session", session_id=session_id)


@staff_required(*EXAM_ROLES)
@require_POST
def console_review(request: HttpRequest, session_id: int) -> HttpResponse:
    try:
        scores = exams.exam_passes_review(rules=rules_current(), session_id=session_id, actor=request.user)
    except ExamSession.DoesNotExist:
        raise Http404 from None
    except (exams.ExamError, CertificateError) as error:
        messages.error(request, error.message)
    else:
        issued = sum(1 for score in scores if score.certificate_id)
        messages.success(request, f"已确认 {len(scores)} 人合格，发放证书 {issued} 份")
    return redirect("certificates:exam-session", session_id=session_id)


# --- 我的考试 -----------------------------------------------------------------------------------------


@login_required
@require_GET
def my_exams(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.kind == UserKind.STAFF:
        return redirect("certificates:exam-console")
    rules = rules_current()
    now = timezone.now()
    rows = []
    for entry in selectors_exams.exam_entries_visible_to(viewer=user)[:500]:
        refusal = exams.exam_ticket_refusal(rules=rules, entry=entry, now=now)
        opens_at, closes_at = exams.exam_ticket_window(rules=rules, entry=entry)
        rows.append(
            {
                "entry": entry,
                "holder_name": entry.application.person.name,
                "score": getattr(entry, "score", None),
                "printable": refusal is None,
                "refusal": refusal.message if refusal else "",
                "opens_at": opens_at,
                "closes_at": closes_at,
            }
        )
    return render(
        request,
        "certificates/exams/mine.html",
        {"rows": rows, "for_company": user.kind == UserKind.COMPANY},
    )


@login_required
@require_GET
def ticket_pdf(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        entry = selectors_exams.exam_entry_get_for_viewer(entry_id=entry_id, viewer=request.user)
    except ExamEntry.DoesNotExist:
        raise Http404("未找到该准考证") from None
    try:
        data = exams.exam_ticket_pdf(rules=rules_current(), entry=entry, viewer=request.user)
    except exams.ExamError as error:
        messages.error(request, error.message)
        return redirect("certificates:exams-mine")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="ticket-{entry.ticket_number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response

"""报名审核: one set of pages for whichever reviewer is logged in.

`selectors.reviewer_step` says which step of the review chain the account decides (company operators
their company's people, training institutions their own sessions, association reviewers and admins the
association step); the selectors say what it may see (anything else is a 404, exactly like an id that does
not exist); the services decide, lock and record. Company and institution accounts work in the site's
look, association staff in the console.
"""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from registration.models import REVIEW_STATUSES, Application, ApplicationStatus, Program, TrainingSession
from registration.selectors import (
    QueueFilters,
    answer_display,
    application_get_for_reviewer,
    review_counts,
    review_queue,
    reviewer_step,
    status_label,
)
from registration.services import (
    STEP_LABELS,
    ApplicationError,
    ApplicationRefused,
    application_correct,
    application_review,
    application_review_bulk,
    current_step,
    may_review,
)
from shared.accounts.models import User
from shared.documents.models import Document
from shared.documents.selectors import document_get_for_viewer
from shared.money import format_yuan
from shared.services import audit_record
from shared.validation import mask_id_number, mask_phone
from tenant_configs.schema import ChoicesSource, FieldType, FormField, MaterialsPolicy, ProgramRules, Rules
from tenant_configs.selectors import RulesNotPublished, rules_current, rules_current_version

PAGE_SIZE = 50
ALL = "all"
# Statuses a reviewer can pick as a tab (drafts are the applicant's own and never reach a reviewer).
QUEUE_STATUSES = [status for status in ApplicationStatus.values if status != ApplicationStatus.DRAFT]
EVENT_ACTIONS = {
    "submit": "提交",
    "approve": "通过",
    "reject": "不通过",
    "correct": "修改资料",
    "resubmit": "重新提交",
    "withdraw": "撤回",
    "promote": "候补转正",
}
CHANNEL_LABELS = {"self": "个人报名", "company": "单位报名"}
MATERIALS_LABELS = {True: "购买", False: "不购买"}


# ---------------------------------------------------------------------------------------------------------
# who is reviewing
# ---------------------------------------------------------------------------------------------------------


def _step_of(user: User) -> str | None:
    """The step this account decides, or None when it is no reviewer (a person, finance staff…) or a
    reviewer account that is not attached to anything to review (an operator without a company)."""
    if not user.is_active:
        return None
    step = reviewer_step(user)
    if step == "company" and user.company_id is None:
        return None
    if step == "institution" and not user.institution_code:
        return None
    return step


def reviewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous → the login page; a logged-in account that reviews nothing → the forbidden page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        step = _step_of(request.user)
        if step is None:
            raise PermissionDenied
        return view(request, *args, step=step, **kwargs)

    return wrapper


def _is_staff_reviewer(step: str) -> bool:
    return step == "association"


def _page_context(step: str) -> dict[str, object]:
    return {
        "base_template": "console/base.html" if _is_staff_reviewer(step) else "base.html",
        "console_section": "review",
        "step": step,
        "step_label": STEP_LABELS[step],
    }


def _rules_version() -> int:
    version = rules_current_version()
    if version is None:
        raise RulesNotPublished
    return version.number


def _program_rules(rules: Rules, application: Application) -> ProgramRules | None:
    """The program's rules; None when the program has since been taken out of the rules."""
    try:
        return rules.program(application.program.code)
    except KeyError:
        return None


def _get(request: HttpRequest, application_id: int) -> Application:
    try:
        return application_get_for_reviewer(application_id=application_id, actor=request.user)
    except Application.DoesNotExist:
        raise Http404 from None


# ---------------------------------------------------------------------------------------------------------
# showing a person
# ---------------------------------------------------------------------------------------------------------


def _profile(application: Application):
    return getattr(application.person, "profile", None)


def _person_name(application: Application) -> str:
    profile = _profile(application)
    return (profile.name if profile is not None else "") or str(application.person)


def _person_id_number(application: Application) -> str:
    profile = _profile(application)
    return (profile.id_number if profile is not None else "") or application.person.id_number


def _company_name(application: Application) -> str:
    if application.company_id is not None:
        return application.company.name
    profile = _profile(application)
    return (profile.company_name if profile is not None else "") or "—"


# ---------------------------------------------------------------------------------------------------------
# the queue
# ---------------------------------------------------------------------------------------------------------


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _filters(params: QueryDict, step: str) -> QueueFilters:
    status = params.get("status", "")
    if status != ALL and status not in QUEUE_STATUSES:
        status = REVIEW_STATUSES[step]
    return QueueFilters(
        status=status,
        program_id=_number(params.get("program")),
        session_id=_number(params.get("session")),
        search=params.get("q", "").strip()[:50],
    )


def _with(params: QueryDict, **changes: str) -> str:
    """The query string with some parameters replaced (and the page reset unless given)."""
    copy = params.copy()
    copy.pop("page", None)
    for key, value in changes.items():
        copy[key] = value
    return copy.urlencode()


class BulkForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "批量通过"), ("reject", "批量不通过")])
    reason = forms.CharField(label="不通过原因", max_length=200, required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        ids = [int(value) for value in self.data.getlist("application_ids") if value.isdigit()]
        if not ids:
            raise forms.ValidationError("请先勾选要审核的报名")
        cleaned["application_ids"] = list(dict.fromkeys(ids))
        if cleaned.get("decision") == "reject" and not cleaned.get("reason", "").strip():
            self.add_error("reason", "请填写不通过的原因")
        return cleaned


def _queue_row(rules: Rules, application: Application) -> dict[str, object]:
    return {
        "application": application,
        "name": _person_name(application),
        "id_number": mask_id_number(_person_id_number(application)),
        "company": _company_name(application),
        "status": status_label(rules=rules, status=application.status),
        "fee": format_yuan(application.fee_fen),
    }


def _render_queue(
    request: HttpRequest, *, step: str, bulk_form: BulkForm, checked: frozenset[int] = frozenset()
) -> HttpResponse:
    rules = rules_current()
    actor = request.user
    filters = _filters(request.GET, step)
    waiting = REVIEW_STATUSES[step]
    counts = review_counts(actor=actor)
    statuses = [waiting] + [s for s in QUEUE_STATUSES if s != waiting and counts.get(s)]
    tabs = [
        {
            "status": status,
            "label": status_label(rules=rules, status=status),
            "count": counts.get(status, 0),
            "query": _with(request.GET, status=status),
        }
        for status in statuses
    ]
    tabs.append(
        {
            "status": ALL,
            "label": "全部",
            "count": sum(counts.values()),
            "query": _with(request.GET, status=ALL),
        }
    )
    applications = review_queue(actor=actor, filters=filters).select_related("person__profile")
    page = Paginator(applications, PAGE_SIZE).get_page(request.GET.get("page"))
    # Only programs and sessions the reviewer has applications in are offered as filters.
    visible = review_queue(actor=actor, filters=QueueFilters(status=ALL)).order_by()
    sessions = TrainingSession.objects.filter(pk__in=visible.values("session_id")).select_related("program")
    if filters.program_id:
        sessions = sessions.filter(program_id=filters.program_id)
    return render(
        request,
        "registration/review/queue.html",
        {
            **_page_context(step),
            "tabs": tabs,
            "status": filters.status,
            "filters": filters,
            "programs": Program.objects.filter(pk__in=visible.values("program_id")).order_by("name"),
            "sessions": sessions.order_by("program__name", "code"),
            "rows": [_queue_row(rules, application) for application in page.object_list],
            "page": page,
            "query": request.GET.urlencode(),
            "page_query": _with(request.GET),
            "bulk_form": bulk_form,
            "checked": checked,
        },
    )


@reviewer_required
@require_GET
def queue(request: HttpRequest, *, step: str) -> HttpResponse:
    return _render_queue(request, step=step, bulk_form=BulkForm())


def _bulk_summary(*, approve: bool, outcomes: list[tuple[str, bool, str]]) -> str:
    done = sum(1 for _, ok, _ in outcomes if ok)
    summary = f"已通过 {done} 条" if approve else f"已审核不通过 {done} 条"
    failed = [f"{name} — {message}" for name, ok, message in outcomes if not ok]
    if failed:
        summary += f"；{len(failed)} 条未处理：" + "；".join(failed)
    return summary


@reviewer_required
@require_POST
def bulk(request: HttpRequest, *, step: str) -> HttpResponse:
    """The same decision on the checked rows. The form posts to this URL with the queue's query string,
    so the reviewer comes back to the same tab, filters and page."""
    form = BulkForm(request.POST)
    if not form.is_valid():
        checked = frozenset(_number(value) for value in request.POST.getlist("application_ids"))
        return _render_queue(request, step=step, bulk_form=form, checked=checked - {None})
    ids = form.cleaned_data["application_ids"]
    approve = form.cleaned_data["decision"] == "approve"
    # Rows the reviewer cannot see are reported like ids that do not exist: ids cannot be probed.
    visible = {
        application.pk: _person_name(application)
        for application in review_queue(actor=request.user, filters=QueueFilters(status=ALL))
        .select_related("person__profile")
        .filter(pk__in=ids)
    }
    outcomes = {
        outcome.application_id: (visible[outcome.application_id], outcome.ok, outcome.message)
        for outcome in application_review_bulk(
            rules_version=_rules_version(),
            application_ids=[pk for pk in ids if pk in visible],
            actor=request.user,
            approve=approve,
            reason=form.cleaned_data["reason"],
        )
    }
    summary = _bulk_summary(
        approve=approve,
        outcomes=[outcomes.get(pk, (f"报名 {pk}", False, "报名不存在")) for pk in ids],
    )
    if all(pk in outcomes and outcomes[pk][1] for pk in ids):
        messages.success(request, summary)
    else:
        messages.warning(request, summary)
    query = request.GET.urlencode()
    return redirect(f"{reverse('review:queue')}?{query}" if query else reverse("review:queue"))


# ---------------------------------------------------------------------------------------------------------
# one application
# ---------------------------------------------------------------------------------------------------------


def _choice_options(rules: Rules, program: ProgramRules, form_field: FormField) -> list[tuple[str, str]]:
    if form_field.choices_source == ChoicesSource.UNITS:
        codes = set(program.unit_codes)
        return [(u.code, u.name) for u in rules.organizations.units if not codes or u.code in codes]
    if form_field.choices_source == ChoicesSource.INSTITUTIONS:
        return [(item.code, item.name) for item in rules.organizations.institutions]
    return [(choice.value, choice.label) for choice in form_field.choices]


def _initial(form_field: FormField, value: object) -> object:
    """An answer as the form shows it (the rules engine takes these spellings back)."""
    if value is None:
        return [] if form_field.type == FieldType.MULTI_CHOICE else ""
    if form_field.type == FieldType.YES_NO and isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return " ".join(str(part) for part in value.values())
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value)


def _form_field(rules: Rules, program: ProgramRules, form_field: FormField) -> forms.Field:
    """A carrier for the raw answer: the rules engine, not the form, decides what is valid, so its messages
    (which name the field and the allowed values) are the ones the reviewer sees."""
    options = {"label": form_field.label, "required": False, "help_text": form_field.help}
    if form_field.type == FieldType.CHOICE:
        choices = [("", "请选择"), *_choice_options(rules, program, form_field)]
        return forms.CharField(widget=forms.Select(choices=choices), **options)
    if form_field.type == FieldType.MULTI_CHOICE:
        choices = _choice_options(rules, program, form_field)
        return forms.Field(widget=forms.CheckboxSelectMultiple(choices=choices), **options)
    if form_field.type == FieldType.YES_NO:
        choices = [("", "请选择"), ("yes", "是"), ("no", "否")]
        return forms.CharField(widget=forms.Select(choices=choices), **options)
    if form_field.type == FieldType.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **options)
    if form_field.type == FieldType.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **options)
    if form_field.type == FieldType.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), strip=False, **options)
    return forms.CharField(strip=False, **options)


class CorrectionForm(forms.Form):
    """修改资料: the program's form with the application's answers. Fields linked to the person's profile
    are shown read-only (the profile wins over any answer); the session and uploads are not corrected here."""

    def __init__(self, *args, rules: Rules, program: ProgramRules, application: Application, **kwargs):
        super().__init__(*args, **kwargs)
        for form_field in program.fields:
            if form_field.type == FieldType.FILE or form_field.choices_source == ChoicesSource.SESSIONS:
                continue
            field = _form_field(rules, program, form_field)
            if form_field.profile_field is not None:
                field.disabled = True
                field.help_text = "来自个人资料，在此不能修改"
            self.fields[form_field.key] = field
            self.initial[form_field.key] = _initial(form_field, application.answers.get(form_field.key))
        if program.price.materials_policy == MaterialsPolicy.OPTIONAL:
            self.fields["with_materials"] = forms.ChoiceField(
                label="培训资料",
                choices=[("yes", "购买"), ("no", "不购买")],
                widget=forms.RadioSelect,
                required=False,
            )
            if application.with_materials is not None:
                self.initial["with_materials"] = "yes" if application.with_materials else "no"

    def answers(self) -> dict[str, object]:
        """Only what the reviewer changed: untouched answers stay exactly as stored (an address kept as
        its parts, a number as a number)."""
        return {
            key: self.cleaned_data[key]
            for key in self.changed_data
            if key != "with_materials" and not self.fields[key].disabled
        }

    def with_materials(self) -> bool | None:
        if "with_materials" not in self.changed_data:
            return None  # unchanged: the service keeps the application's choice
        return {"yes": True, "no": False}.get(self.cleaned_data["with_materials"])

    def show_problems(self, problems: tuple) -> None:
        for problem in problems:
            self.add_error(problem.field if problem.field in self.fields else None, problem.message)


def _value_text(value: object, labels: dict[str, str]) -> str:
    if value is None or value == "" or value == []:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(labels.get(str(item), str(item)) for item in value)
    if isinstance(value, dict):
        return " ".join(str(part) for part in value.values())
    return labels.get(str(value), str(value))


def _changes_text(rules: Rules, program: ProgramRules | None, changes: dict) -> list[str]:
    """ "学历：本科 → 硕士研究生" for each corrected answer; other bookkeeping in `changes` is not shown."""
    fields = {form_field.key: form_field for form_field in program.fields} if program else {}
    lines = []
    for key, pair in changes.items():
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        old, new = pair
        if key == "with_materials":
            lines.append(
                f"培训资料：{MATERIALS_LABELS.get(old, '未选择')} → {MATERIALS_LABELS.get(new, '未选择')}"
            )
        elif key in fields:
            labels = dict(_choice_options(rules, program, fields[key]))
            lines.append(f"{fields[key].label}：{_value_text(old, labels)} → {_value_text(new, labels)}")
    return lines


def _documents(request: HttpRequest, application: Application, program: ProgramRules | None) -> list[dict]:
    specs = list(program.documents) if program else []
    labels = {spec.key: spec.label for spec in specs}
    order = {spec.key: position for position, spec in enumerate(specs)}
    submitted = application.documents.select_related("document")
    rows = []
    for row in sorted(submitted, key=lambda item: (order.get(item.key, len(order)), item.key)):
        try:
            document_get_for_viewer(document_id=row.document_id, viewer=request.user)
        except Document.DoesNotExist:
            openable = False
        else:
            openable = True
        rows.append({"label": labels.get(row.key, row.key), "document": row.document, "openable": openable})
    return rows


def _render_detail(
    request: HttpRequest,
    application: Application,
    *,
    step: str,
    action_error: str = "",
    reject_error: str = "",
    correction: CorrectionForm | None = None,
) -> HttpResponse:
    rules = rules_current()
    program = _program_rules(rules, application)
    actor = request.user
    waiting_at = current_step(application)
    may_decide = waiting_at is not None and may_review(actor=actor, application=application, step=waiting_at)
    may_correct = may_decide and waiting_at == "company" and program is not None and program.company_may_edit
    if may_correct and correction is None:
        correction = CorrectionForm(rules=rules, program=program, application=application)
    profile = _profile(application)
    staff = _is_staff_reviewer(step)
    id_number = _person_id_number(application)
    phone = (profile.phone if profile is not None else "") or application.person.phone
    events = [
        {
            "event": event,
            "action": EVENT_ACTIONS.get(event.action, event.action),
            "step": STEP_LABELS.get(event.step, ""),
            "status": status_label(rules=rules, status=event.to_status) if event.to_status else "",
            "changes": _changes_text(rules, program, event.changes) if event.action == "correct" else [],
        }
        for event in application.events.all()
    ]
    return render(
        request,
        "registration/review/detail.html",
        {
            **_page_context(step),
            "application": application,
            "name": _person_name(application),
            "profile": profile,
            "id_number": id_number if staff else mask_id_number(id_number),
            "phone": phone if staff else mask_phone(phone),
            "company": _company_name(application),
            "channel": CHANNEL_LABELS.get(application.channel, application.channel),
            "status": status_label(rules=rules, status=application.status),
            "waiting_at": STEP_LABELS.get(waiting_at or "", ""),
            "fee": format_yuan(application.fee_fen),
            "answers": answer_display(rules=rules, application=application) if program else [],
            "documents": _documents(request, application, program),
            "pledges": application.pledges.select_related("accepted_by"),
            "events": events,
            "may_decide": may_decide,
            "correction": correction if may_correct else None,
            "action_error": action_error,
            "reject_error": reject_error,
        },
    )


@reviewer_required
@require_GET
def detail(request: HttpRequest, application_id: int, *, step: str) -> HttpResponse:
    application = _get(request, application_id)
    if _is_staff_reviewer(step):
        # Staff see the full ID number and phone: every look is on the record (DESIGN §8).
        audit_record(actor=request.user, action="application.view", target=application)
    return _render_detail(request, application, step=step)


def _decided(request: HttpRequest, application: Application, text: str) -> HttpResponse:
    messages.success(request, f"{_person_name(application)}（{application.number}）{text}。")
    return redirect("review:queue")


@reviewer_required
@require_POST
def approve(request: HttpRequest, application_id: int, *, step: str) -> HttpResponse:
    application = _get(request, application_id)
    try:
        application_review(
            rules_version=_rules_version(), application_id=application.pk, actor=request.user, approve=True
        )
    except ApplicationError as error:
        return _render_detail(request, application, step=step, action_error=error.message)
    return _decided(request, application, "已通过")


@reviewer_required
@require_POST
def reject(request: HttpRequest, application_id: int, *, step: str) -> HttpResponse:
    application = _get(request, application_id)
    try:
        application_review(
            rules_version=_rules_version(),
            application_id=application.pk,
            actor=request.user,
            approve=False,
            reason=request.POST.get("reason", ""),
        )
    except ApplicationError as error:
        if error.code == "reason_required":
            return _render_detail(request, application, step=step, reject_error=error.message)
        return _render_detail(request, application, step=step, action_error=error.message)
    return _decided(request, application, "审核不通过")


@reviewer_required
@require_POST
def correct(request: HttpRequest, application_id: int, *, step: str) -> HttpResponse:
    application = _get(request, application_id)
    rules = rules_current()
    program = _program_rules(rules, application)
    if program is None:
        return _render_detail(request, application, step=step, action_error="该项目已不在规则中，不能修改")
    form = CorrectionForm(request.POST, rules=rules, program=program, application=application)
    if not form.is_valid():
        return _render_detail(request, application, step=step, correction=form)
    answers, with_materials = form.answers(), form.with_materials()
    if not answers and with_materials is None:
        messages.info(request, "报名资料没有变化。")
        return redirect("review:detail", application_id=application.pk)
    try:
        application_correct(
            rules=rules,
            rules_version=_rules_version(),
            application_id=application.pk,
            actor=request.user,
            answers=answers,
            with_materials=with_materials,
        )
    except ApplicationRefused as refused:
        form.show_problems(refused.problems)
        return _render_detail(request, application, step=step, correction=form)
    except ApplicationError as error:
        return _render_detail(request, application, step=step, action_error=error.message)
    messages.success(request, "已修改报名资料，修改内容已记入审核记录。")
    return redirect("review:detail", application_id=application.pk)

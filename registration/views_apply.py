"""Applying (报名) on the tenant's site: open sessions, the one-page form, the step-by-step wizard with a
resumable draft, "my applications" with each step's result, resubmit and withdraw, and a company
enrolling its people in one action. Views read the POST, call one service, render the outcome."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from registration import forms as form_specs
from registration import rules as engine
from registration import selectors
from registration.models import Application, ApplicationStatus, Program, TrainingSession
from registration.services import (
    ApplicationError,
    ApplicationRefused,
    applicant_facts,
    application_draft_save,
    application_draft_submit,
    application_enrol_bulk,
    application_resubmit,
    application_submit,
    application_withdraw,
    profile_answers,
    usable_documents,
    withdrawal_allowed,
)
from shared.accounts.models import PersonProfile, User
from shared.documents.checks import UploadProblem
from shared.documents.services import document_upload
from shared.documents.views import spec_requirements
from shared.money import format_yuan
from shared.permissions import company_required, person_required
from tenant_configs.schema import EnrolmentChannel, MaterialsPolicy, ProgramRules, Rules
from tenant_configs.selectors import rules_current, rules_current_version

SELF_CHANNELS = {
    EnrolmentChannel.SELF_ONLY,
    EnrolmentChannel.SELF_WITH_COMPANY_CONFIRMATION,
    EnrolmentChannel.BOTH,
}
COMPANY_CHANNELS = {EnrolmentChannel.COMPANY_ONLY, EnrolmentChannel.BOTH}


def _version() -> int:
    return rules_current_version().number


def _program_rules(rules: Rules, program: Program) -> ProgramRules | None:
    return next((item for item in rules.programs if item.code == program.code), None)


# ---------------------------------------------------------------------------------------------------------
# the list of open sessions
# ---------------------------------------------------------------------------------------------------------


def training(request: HttpRequest) -> HttpResponse:
    """Open sessions by program; what a visitor, a person or a company may do with each."""
    rules = rules_current()
    user = request.user
    groups: dict[int, dict] = {}
    for session in selectors.sessions_open():
        program_rules = _program_rules(rules, session.program)
        if program_rules is None:
            continue
        group = groups.setdefault(
            session.program.pk,
            {"program": session.program, "rules": program_rules, "sessions": [], "draft": None},
        )
        left = selectors.seats_left(session)
        group["sessions"].append(
            {"session": session, "seats_left": left, "full": left == 0, "fee": format_yuan(session.fee_fen)}
        )
    mine: dict[int, str] = {}
    if user.is_authenticated and user.kind == "person":
        for session_id, status in (
            Application.objects.filter(person=user, session__isnull=False)
            .exclude(status__in=["withdrawn", "expired"])
            .values_list("session_id", "status")
        ):
            mine[session_id] = selectors.status_label(rules=rules, status=status)
    not_applied = (
        rules.applications.status_labels.draft
        if rules.applications.status_labels.draft != "草稿"
        else "未报名"
    )
    for group in groups.values():
        for row in group["sessions"]:
            row["my_status"] = mine.get(row["session"].pk, not_applied)
        group["self_allowed"] = group["rules"].channel in SELF_CHANNELS
        group["company_allowed"] = group["rules"].channel in COMPANY_CHANNELS
        group["wizard"] = bool(group["rules"].wizard_steps)
        if user.is_authenticated and user.kind == "person" and group["wizard"]:
            group["draft"] = selectors.draft_for(program_id=group["program"].pk, person=user)
    return render(request, "registration/training.html", {"groups": list(groups.values())})


# ---------------------------------------------------------------------------------------------------------
# the one-page form (and resubmission, which is the same form)
# ---------------------------------------------------------------------------------------------------------


def _upload_documents(
    request: HttpRequest, program: ProgramRules, only: tuple[str, ...] | None = None
) -> dict[str, list[str]]:
    """Store the files sent with the form in the person's own slots; problems by input name."""
    errors: dict[str, list[str]] = {}
    for document, input_key in form_specs.document_specs(program, only):
        upload = request.FILES.get(f"doc_{document.key}")
        if upload is None:
            continue
        try:
            document_upload(
                owner=request.user,
                key=document.key,
                spec=document,
                data=upload.read(),
                filename=upload.name,
                review_required=False,
            )
        except UploadProblem as problem:
            errors.setdefault(input_key, []).append(f"{document.label}：{problem.message}")
    return errors


def _form_context(
    *,
    rules: Rules,
    program: ProgramRules,
    person: User,
    answers: dict,
    sessions: list[TrainingSession],
    problems: dict[str, list[str]],
    pledges: dict[str, str],
    with_materials: bool | None,
    only_fields: tuple[str, ...] | None = None,
    only_documents: tuple[str, ...] | None = None,
    only_pledges: tuple[str, ...] | None = None,
) -> dict:
    locked = profile_answers(program=program, person=person)
    current = usable_documents(program=program, person=person)
    documents = [
        {
            "spec": document,
            "input": input_key,
            "current": current.get(document.key),
            "requirements": spec_requirements(document),
            "errors": problems.get(input_key, [])
            + (problems.get(document.key, []) if input_key != document.key else []),
        }
        for document, input_key in form_specs.document_specs(program, only_documents)
    ]
    return {
        "program_rules": program,
        "fields": form_specs.field_specs(
            rules=rules,
            program=program,
            answers=answers,
            locked=locked,
            sessions=sessions,
            only=only_fields,
            errors=problems,
        ),
        "documents": documents,
        "pledges": [
            {"pledge": pledge, "accepted": pledge.key in pledges, "errors": problems.get(pledge.key, [])}
            for pledge in form_specs.application_pledges(program, only_pledges)
        ],
        "materials_optional": program.price.materials_policy == MaterialsPolicy.OPTIONAL
        and only_fields is None,
        "with_materials": with_materials,
        "materials_errors": problems.get(engine.MATERIALS_FIELD, []),
        "general_errors": problems.get("", []),
    }


@person_required
def apply(request: HttpRequest, session_id: int) -> HttpResponse:
    rules = rules_current()
    try:
        session = selectors.session_get(session_id=session_id)
    except TrainingSession.DoesNotExist:
        raise Http404 from None
    program = _program_rules(rules, session.program)
    if program is None:
        raise Http404
    if program.wizard_steps:
        return redirect("training:wizard", program_id=session.program.pk)
    refusal = engine.channel_problem(program, "self")
    if refusal is not None:
        return render(request, "registration/refused.html", {"message": refusal.message}, status=403)
    answers, pledges, with_materials, problems = {}, {}, None, {}
    if request.method == "POST":
        answers = form_specs.read_answers(program, request.POST)
        pledges = form_specs.read_pledges(program, request.POST)
        with_materials = form_specs.read_materials(program, request.POST)
        problems = _upload_documents(request, program)
        if not problems:
            try:
                application = application_submit(
                    rules=rules,
                    rules_version=_version(),
                    session_id=session.pk,
                    person=request.user,
                    actor=request.user,
                    channel="self",
                    submission=engine.Submission(
                        answers=answers, documents=frozenset(), pledges=pledges, with_materials=with_materials
                    ),
                )
            except ApplicationRefused as refused:
                problems = selectors.problems_by_field(refused.problems)
            else:
                messages.success(
                    request, f"报名已提交：{selectors.status_label(rules=rules, status=application.status)}"
                )
                return redirect("training:application", application_id=application.pk)
    context = _form_context(
        rules=rules,
        program=program,
        person=request.user,
        answers=answers,
        sessions=[session],
        problems=problems,
        pledges=pledges,
        with_materials=with_materials,
    )
    context.update(
        session=session,
        fee=format_yuan(session.fee_fen),
        materials_fee=format_yuan(session.materials_fee_fen),
    )
    return render(request, "registration/apply.html", context, status=422 if problems else 200)


@person_required
def resubmit(request: HttpRequest, application_id: int) -> HttpResponse:
    rules = rules_current()
    try:
        application = selectors.application_get_for_person(application_id=application_id, person=request.user)
    except Application.DoesNotExist:
        raise Http404 from None
    program = rules.program(application.program.code)
    if application.status != ApplicationStatus.REJECTED:
        messages.error(request, "只有审核不通过的报名可以修改后重新提交")
        return redirect("training:application", application_id=application.pk)
    answers = dict(application.answers)
    pledges = {row.key: str(row.version) for row in application.pledges.all()}
    with_materials, problems = application.with_materials, {}
    if request.method == "POST":
        answers = form_specs.read_answers(program, request.POST)
        pledges = form_specs.read_pledges(program, request.POST)
        with_materials = form_specs.read_materials(program, request.POST)
        problems = _upload_documents(request, program)
        if not problems:
            try:
                application_resubmit(
                    rules=rules,
                    rules_version=_version(),
                    application_id=application.pk,
                    person=request.user,
                    submission=engine.Submission(
                        answers=answers, documents=frozenset(), pledges=pledges, with_materials=with_materials
                    ),
                )
            except ApplicationRefused as refused:
                problems = selectors.problems_by_field(refused.problems)
            except ApplicationError as error:
                problems = {"": [error.message]}
            else:
                messages.success(request, "已重新提交，请等待审核")
                return redirect("training:application", application_id=application.pk)
    context = _form_context(
        rules=rules,
        program=program,
        person=request.user,
        answers=answers,
        sessions=[application.session],
        problems=problems,
        pledges=pledges,
        with_materials=with_materials,
    )
    context.update(
        session=application.session,
        application=application,
        fee=format_yuan(application.session.fee_fen),
        materials_fee=format_yuan(application.session.materials_fee_fen),
    )
    return render(request, "registration/apply.html", context, status=422 if problems else 200)


# ---------------------------------------------------------------------------------------------------------
# the wizard (henan): one step per page, a draft saved at each
# ---------------------------------------------------------------------------------------------------------


def _wizard_program(rules: Rules, program_id: int) -> tuple[Program, ProgramRules]:
    program = Program.objects.filter(pk=program_id, is_open=True).first()
    program_rules = _program_rules(rules, program) if program else None
    if program is None or program_rules is None or not program_rules.wizard_steps:
        raise Http404
    return program, program_rules


@person_required
def wizard(request: HttpRequest, program_id: int) -> HttpResponse:
    """Resume where the draft stopped (or start at the first step). A link that prefills a field
    (我的证书's 继续教育报名 passes `?certificate_number=…`) opens the earliest step asking for it."""
    rules = rules_current()
    program, program_rules = _wizard_program(rules, program_id)
    draft = selectors.draft_for(program_id=program.pk, person=request.user)
    step = draft.wizard_step if draft and draft.wizard_step else program_rules.wizard_steps[0].key
    prefilled = next(
        (item for item in program_rules.wizard_steps if set(item.fields) & set(request.GET)), None
    )
    if prefilled is not None:
        keys = [item.key for item in program_rules.wizard_steps]
        if keys.index(prefilled.key) <= (keys.index(step) if step in keys else 0):
            query = {key: request.GET[key] for key in prefilled.fields if key in request.GET}
            url = reverse(
                "training:wizard-step", kwargs={"program_id": program.pk, "step_key": prefilled.key}
            )
            return redirect(f"{url}?{urlencode(query)}")
    return redirect("training:wizard-step", program_id=program.pk, step_key=step)


@person_required
def wizard_step(request: HttpRequest, program_id: int, step_key: str) -> HttpResponse:
    rules = rules_current()
    program, program_rules = _wizard_program(rules, program_id)
    steps = list(program_rules.wizard_steps)
    keys = [step.key for step in steps]
    if step_key not in keys:
        raise Http404
    position = keys.index(step_key)
    step = steps[position]
    draft = selectors.draft_for(program_id=program.pk, person=request.user)
    reached = keys.index(draft.wizard_step) if draft and draft.wizard_step in keys else 0
    if position > reached:
        # Steps are taken in order; a later step's URL leads back to where the draft stands.
        return redirect("training:wizard-step", program_id=program.pk, step_key=keys[reached])
    answers = dict(draft.answers) if draft else {}
    if request.method == "GET":
        # Shown, not saved: the person still saves the step.
        answers.update({key: request.GET[key] for key in step.fields if request.GET.get(key, "").strip()})
    pledges = {row.key: str(row.version) for row in draft.pledges.all()} if draft else {}
    problems: dict[str, list[str]] = {}
    is_last = position == len(steps) - 1
    if request.method == "POST":
        if is_last:
            try:
                if draft is None:
                    raise ApplicationError("invalid_state", "请先完成前面的步骤")
                application = application_draft_submit(
                    rules=rules, rules_version=_version(), draft=draft, person=request.user
                )
            except ApplicationRefused as refused:
                problems = selectors.problems_by_field(refused.problems)
                problems.setdefault("", []).extend(
                    message for key, items in list(problems.items()) if key for message in items
                )
            except ApplicationError as error:
                problems = {"": [error.message]}
            else:
                messages.success(request, "报名已提交，请打印报名表")
                return redirect("training:application", application_id=application.pk)
        else:
            step_answers = form_specs.read_answers(program_rules, request.POST, step.fields)
            step_pledges = form_specs.read_pledges(program_rules, request.POST, step.pledges)
            problems = _upload_documents(request, program_rules, step.documents)
            if not problems:
                try:
                    draft = application_draft_save(
                        rules=rules,
                        rules_version=_version(),
                        program=program,
                        person=request.user,
                        step_key=step.key,
                        answers=step_answers,
                        pledges=step_pledges,
                    )
                except ApplicationRefused as refused:
                    problems = selectors.problems_by_field(refused.problems)
                except ApplicationError as error:
                    problems = {"": [error.message]}
                else:
                    return redirect("training:wizard-step", program_id=program.pk, step_key=draft.wizard_step)
            answers.update(step_answers)
            pledges.update(step_pledges)
    context = _form_context(
        rules=rules,
        program=program_rules,
        person=request.user,
        answers=answers,
        sessions=[],
        problems=problems,
        pledges=pledges,
        with_materials=None,
        only_fields=step.fields,
        only_documents=step.documents,
        only_pledges=step.pledges,
    )
    summary = []
    if is_last and draft is not None:
        summary = selectors.answer_display(rules=rules, application=draft)
    context.update(
        program=program,
        steps=steps,
        step=step,
        position=position,
        reached=reached,
        is_last=is_last,
        summary=summary,
        draft=draft,
        previous=keys[position - 1] if position else None,
    )
    return render(request, "registration/wizard.html", context, status=422 if problems else 200)


# ---------------------------------------------------------------------------------------------------------
# my applications
# ---------------------------------------------------------------------------------------------------------

_FINISHED = {ApplicationStatus.EXPIRED, ApplicationStatus.WITHDRAWN}


@person_required
def my_applications(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    rows = [
        {
            "application": application,
            "label": selectors.status_label(rules=rules, status=application.status),
            "fee": format_yuan(application.fee_fen),
        }
        for application in selectors.applications_for_person(person=request.user)
    ]
    return render(
        request,
        "registration/my_applications.html",
        {
            "current": [row for row in rows if row["application"].status not in _FINISHED],
            "finished": [row for row in rows if row["application"].status in _FINISHED],
        },
    )


_ACTION_LABELS = {
    "submit": "提交报名",
    "approve": "审核通过",
    "reject": "审核不通过",
    "correct": "修改资料",
    "resubmit": "重新提交",
    "withdraw": "撤回报名",
    "promote": "候补转正",
    "expire": "已过期",
    "pay": "缴费成功",
}


def events_display(application: Application) -> list[dict]:
    from registration.services import STEP_LABELS

    return [
        {
            "event": event,
            "action": _ACTION_LABELS.get(event.action, event.action),
            "step": STEP_LABELS.get(event.step, ""),
        }
        for event in application.events.all()
    ]


@person_required
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    rules = rules_current()
    try:
        application = selectors.application_get_for_person(application_id=application_id, person=request.user)
    except Application.DoesNotExist:
        raise Http404 from None
    if application.status == ApplicationStatus.DRAFT:
        return redirect("training:wizard", program_id=application.program_id)
    program = rules.program(application.program.code)
    return render(
        request,
        "registration/application_detail.html",
        {
            "application": application,
            "label": selectors.status_label(rules=rules, status=application.status),
            "answers": selectors.answer_display(rules=rules, application=application),
            "documents": [
                (next((d.label for d in program.documents if d.key == row.key), row.key), row.document)
                for row in application.documents.select_related("document")
            ],
            "pledges": application.pledges.select_related("accepted_by"),
            "events": events_display(application),
            "fee": format_yuan(application.fee_fen),
            "may_withdraw": withdrawal_allowed(program=program, application=application),
            "may_resubmit": application.status == ApplicationStatus.REJECTED
            and program.resubmit_after_rejection,
            "printable": bool(program.wizard_steps),
        },
    )


@require_POST
@person_required
def withdraw(request: HttpRequest, application_id: int) -> HttpResponse:
    try:
        application = selectors.application_get_for_person(application_id=application_id, person=request.user)
        application_withdraw(
            rules=rules_current(),
            rules_version=_version(),
            application_id=application.pk,
            person=request.user,
        )
    except Application.DoesNotExist:
        raise Http404 from None
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("training:application", application_id=application.pk)
    messages.success(request, "报名已撤回")
    return redirect("training:mine")


# ---------------------------------------------------------------------------------------------------------
# a company enrols its people (shanghai: 单位报名)
# ---------------------------------------------------------------------------------------------------------


@company_required
def company_enrol(request: HttpRequest, session_id: int) -> HttpResponse:
    rules = rules_current()
    try:
        session = selectors.session_get(session_id=session_id)
    except TrainingSession.DoesNotExist:
        raise Http404 from None
    program = _program_rules(rules, session.program)
    if program is None:
        raise Http404
    refusal = engine.channel_problem(program, "company")
    if refusal is not None:
        return render(request, "registration/refused.html", {"message": refusal.message}, status=403)
    company_id = request.user.company_id
    people = list(
        PersonProfile.objects.filter(company_id=company_id).select_related("user").order_by("name", "pk")
    )
    enrolled = set(
        Application.objects.filter(person__in=[profile.user for profile in people], program=session.program)
        .exclude(status__in=["draft", "withdrawn", "expired"])
        .values_list("person_id", flat=True)
    )
    answers, pledges, with_materials, problems, results = {}, {}, None, {}, []
    if request.method == "POST":
        answers = form_specs.read_answers(program, request.POST)
        pledges = form_specs.read_pledges(program, request.POST)
        with_materials = form_specs.read_materials(program, request.POST)
        chosen = [int(value) for value in request.POST.getlist("people") if value.isdigit()]
        if not chosen:
            problems = {"": ["请选择要报名的人员"]}
        else:
            results = application_enrol_bulk(
                rules=rules,
                rules_version=_version(),
                session_id=session.pk,
                person_ids=chosen,
                actor=request.user,
                submission=engine.Submission(
                    answers=answers, documents=frozenset(), pledges=pledges, with_materials=with_materials
                ),
            )
            done = sum(1 for result in results if result.application)
            if done:
                messages.success(request, f"已报名 {done} 人")
            if done == len(results):
                return redirect("training:company-enrol", session_id=session.pk)
    facts = {profile.user_id: applicant_facts(rules=rules, person=profile.user) for profile in people}
    context = _form_context(
        rules=rules,
        program=program,
        person=request.user,
        answers=answers,
        sessions=[session],
        problems=problems,
        pledges=pledges,
        with_materials=with_materials,
    )
    context.update(
        session=session,
        fee=format_yuan(session.fee_fen),
        seats_left=selectors.seats_left(session),
        people=[
            {
                "profile": profile,
                "enrolled": profile.user_id in enrolled,
                "has_photo": facts[profile.user_id].has_photo,
            }
            for profile in people
        ],
        results=[result for result in results if not result.application],
        documents=[],
    )
    return render(request, "registration/company_enrol.html", context, status=422 if problems else 200)


def _printout(request: HttpRequest, application_id: int, render_pdf, filename: str) -> HttpResponse:
    from registration import printouts

    rules = rules_current()
    try:
        application = selectors.application_get_for_person(application_id=application_id, person=request.user)
    except Application.DoesNotExist:
        raise Http404 from None
    if application.status == ApplicationStatus.DRAFT:
        raise Http404
    printout = selectors.printout_for(
        rules=rules, application=application, association_name=request.tenant.name
    )
    response = HttpResponse(getattr(printouts, render_pdf)(printout), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}-{application.number}.pdf"'
    return response


@person_required
def print_form(request: HttpRequest, application_id: int) -> HttpResponse:
    return _printout(request, application_id, "registration_form_pdf", "registration-form")


@person_required
def print_pledge(request: HttpRequest, application_id: int) -> HttpResponse:
    return _printout(request, application_id, "pledge_pdf", "pledge")

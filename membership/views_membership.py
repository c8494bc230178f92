"""Pages of association membership (个人会员): the person's application, the company's list by status with
bulk recommendation, renewal, roll back and electronic confirmation, and the association's decisions."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from membership import selectors
from membership.models import AWAITING_DECISION, MembershipStatus
from membership.services import (
    APPLICATION_FIELDS,
    STAFF_EDITABLE,
    MembershipError,
    PhotoUpload,
    membership_apply,
    membership_fee_amount,
    membership_roll_back,
    membership_staff_edit,
    memberships_decide,
    memberships_recommend,
    recommendation_confirm,
)
from shared.accounts.models import PersonProfile
from shared.excel.export import workbook_bytes, xlsx_response
from shared.money import format_yuan
from shared.permissions import company_required, person_required, staff_required
from shared.validation import mask_id_number
from tenant_configs.schema import Rules
from tenant_configs.selectors import rules_current


def _rules() -> Rules:
    rules = rules_current()
    if not rules.membership.enabled:
        raise Http404("本协会未开通个人会员")
    return rules


def _ids(request: HttpRequest) -> list[int]:
    return [int(value) for value in request.POST.getlist("membership_ids") if value.isdigit()]


def _tabs(rules: Rules, counts: dict[str, int], current: str) -> list[dict]:
    return [
        {
            "key": tab,
            "label": selectors.status_label(rules=rules, status=tab),
            "count": counts.get(tab, 0),
            "current": tab == current,
        }
        for tab, _statuses in selectors.COMPANY_TABS
    ]


def _row(rules: Rules, membership, *, mask: bool) -> dict:
    answers = membership.answers
    return {
        "membership": membership,
        "name": answers.get("name", ""),
        "id_number": mask_id_number(answers.get("id_number", "")) if mask else answers.get("id_number", ""),
        "status": selectors.status_label(rules=rules, status=membership.status),
        "awaiting": membership.status in AWAITING_DECISION,
    }


# ---------------------------------------------------------------------------------------------------------
# the person
# ---------------------------------------------------------------------------------------------------------


def _prefill(person) -> dict[str, str]:
    profile = PersonProfile.objects.filter(user=person).first()
    if profile is None:
        return {}
    values = {name: getattr(profile, name, "") or "" for name, _label, _required in APPLICATION_FIELDS}
    values["phone"] = profile.phone or person.phone or ""
    for name in ("birth_date", "work_start_date"):
        values[name] = values[name].isoformat() if hasattr(values[name], "isoformat") else values[name]
    values["gender"] = profile.get_gender_display() if profile.gender else ""
    return values


def _render_home(request: HttpRequest, rules: Rules, *, answers=None, error=None, status=200) -> HttpResponse:
    membership = selectors.membership_for_person(person=request.user)
    years, amount = membership_fee_amount(rules=rules.membership)
    can_apply = membership is None or membership.status == MembershipStatus.REJECTED
    values = (
        answers if answers is not None else (membership.answers if membership else _prefill(request.user))
    )
    return render(
        request,
        "membership/home.html",
        {
            "rules": rules.membership,
            "membership": membership,
            "status_label": selectors.status_label(rules=rules, status=membership.status)
            if membership
            else "",
            "fields": [
                {
                    "name": name,
                    "label": label,
                    "required": required,
                    "value": values.get(name, ""),
                    "problem": error.fields.get(name, "") if error else "",
                }
                for name, label, required in APPLICATION_FIELDS
            ],
            "photo_problem": error.fields.get("photo", "") if error else "",
            "can_apply": can_apply,
            "error": error,
            "fee_years": years,
            "fee_total": format_yuan(amount),
            "fee_per_year": format_yuan(rules.membership.fee_per_year_fen),
            "fees": selectors.fees_for_person(person=request.user) if membership else [],
            "events": selectors.membership_events(membership=membership) if membership else [],
        },
        status=status,
    )


@person_required
def membership_home(request: HttpRequest) -> HttpResponse:
    """个人会员首页: status, payment and period; the application form while none is pending."""
    rules = _rules()
    if request.method != "POST":
        return _render_home(request, rules)
    upload = request.FILES.get("photo")
    photo = PhotoUpload(data=upload.read(), filename=upload.name) if upload else None
    answers = {name: request.POST.get(name, "") for name, _label, _required in APPLICATION_FIELDS}
    try:
        membership_apply(rules=rules, person=request.user, answers=answers, photo=photo)
    except MembershipError as error:
        return _render_home(request, rules, answers=answers, error=error, status=422)
    messages.success(request, "入会申请已提交，请联系本单位的系统管理人员推荐。")
    return redirect("membership-home")


# ---------------------------------------------------------------------------------------------------------
# the company
# ---------------------------------------------------------------------------------------------------------


@company_required
@require_GET
def company_memberships(request: HttpRequest) -> HttpResponse:
    rules = _rules()
    company = request.user.company
    memberships = selectors.memberships_for_company(company=company)
    tab = request.GET.get("tab", "applied")
    tab = tab if tab in selectors.TAB_STATUSES else "applied"
    return render(
        request,
        "membership/company_memberships.html",
        {
            "company": company,
            "rules": rules.membership,
            "tab": tab,
            "tabs": _tabs(rules, selectors.tab_counts(memberships=memberships), tab),
            "rows": [
                _row(rules, membership, mask=False)
                for membership in selectors.memberships_in_tab(memberships=memberships, tab=tab)
            ],
            "unconfirmed": selectors.unconfirmed_count(company=company),
            "batches": selectors.batches_for_company(company=company)[:5],
        },
    )


def _back_to(tab: str) -> HttpResponse:
    return redirect(f"{reverse('company:memberships')}?tab={tab}")


@company_required
@require_POST
def company_recommend(request: HttpRequest) -> HttpResponse:
    """批量推荐 (个人提交 → 企业推荐（新会员）) and 推荐续期 (已过期 → 企业推荐（续期）)."""
    rules = _rules()
    tab = request.POST.get("tab", "applied")
    try:
        done = memberships_recommend(
            rules=rules, company=request.user.company, actor=request.user, membership_ids=_ids(request)
        )
    except MembershipError as error:
        messages.error(request, error.message)
        return _back_to(tab)
    renewals = sum(1 for membership in done if membership.status == MembershipStatus.RECOMMENDED_RENEWAL)
    messages.success(
        request,
        f"已推荐 {len(done)} 人（续期 {renewals} 人）。"
        + (
            "请在核对后进行电子确认，协会收到确认后审批。"
            if rules.membership.electronic_recommendation
            else ""
        ),
    )
    return _back_to("recommended_renewal" if renewals == len(done) else "recommended_new")


@company_required
@require_POST
def company_roll_back(request: HttpRequest, membership_id: int) -> HttpResponse:
    rules = _rules()
    try:
        membership = membership_roll_back(
            rules=rules, company=request.user.company, actor=request.user, membership_id=membership_id
        )
    except MembershipError as error:
        messages.error(request, error.message)
        return _back_to(request.POST.get("tab", "recommended_new"))
    messages.success(request, f"已回退{membership.answers.get('name', '')}的推荐。")
    return _back_to(request.POST.get("tab", "recommended_new"))


@company_required
@require_POST
def company_confirm(request: HttpRequest) -> HttpResponse:
    """电子确认推荐: one batch of every recommendation not yet confirmed, with its PDF and hash."""
    rules = _rules()
    try:
        batch = recommendation_confirm(rules=rules, company=request.user.company, actor=request.user)
    except MembershipError as error:
        messages.error(request, error.message)
        return _back_to("recommended_new")
    messages.success(
        request, f"已电子确认推荐（批号 {batch.number}，{len(batch.entries)} 人），协会将进行审批。"
    )
    return redirect("company:membership-batches")


def _export(rules: Rules, memberships, tab: str) -> HttpResponse:
    """The tab's memberships (everyone with tab=all) as an Excel download."""
    if tab != "all":
        memberships = selectors.memberships_in_tab(memberships=memberships, tab=tab)
    header, rows = selectors.export_rows(rules=rules, memberships=memberships)
    data = workbook_bytes(title="个人会员", header=header, rows=rows)
    return xlsx_response(data=data, filename=f"members-{tab}-{timezone.localdate():%Y%m%d}.xlsx")


@company_required
@require_GET
def company_export(request: HttpRequest) -> HttpResponse:
    """导出: the tab's people (or everyone with tab=all) as an Excel sheet."""
    memberships = selectors.memberships_for_company(company=request.user.company)
    return _export(_rules(), memberships, request.GET.get("tab", "all"))


@company_required
@require_GET
def company_batches(request: HttpRequest) -> HttpResponse:
    _rules()
    return render(
        request,
        "membership/company_batches.html",
        {"batches": selectors.batches_for_company(company=request.user.company)},
    )


def _batch_pdf(batch) -> HttpResponse:
    response = HttpResponse(bytes(batch.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="recommendation-{batch.number}.pdf"'
    return response


@company_required
@require_GET
def company_batch_pdf(request: HttpRequest, batch_id: int) -> HttpResponse:
    _rules()
    try:
        batch = selectors.batch_get_for_company(company=request.user.company, batch_id=batch_id)
    except selectors.RecommendationBatch.DoesNotExist as error:
        raise Http404 from error
    return _batch_pdf(batch)


@company_required
@require_GET
def company_batch_xlsx(request: HttpRequest, batch_id: int) -> HttpResponse:
    _rules()
    try:
        batch = selectors.batch_get_for_company(company=request.user.company, batch_id=batch_id)
    except selectors.RecommendationBatch.DoesNotExist as error:
        raise Http404 from error
    header, rows = selectors.batch_rows(batch=batch)
    data = workbook_bytes(title=batch.number, header=header, rows=rows)
    return xlsx_response(data=data, filename=f"recommendation-{batch.number}.xlsx")


# ---------------------------------------------------------------------------------------------------------
# the association
# ---------------------------------------------------------------------------------------------------------


@staff_required("reviewer")
@require_GET
def console_memberships(request: HttpRequest) -> HttpResponse:
    rules = _rules()
    query = request.GET.get("q", "")
    memberships = selectors.memberships_for_staff(query=query)
    tab = request.GET.get("tab", "recommended_new")
    tab = tab if tab in selectors.TAB_STATUSES else "recommended_new"
    rows = [
        _row(rules, membership, mask=False)
        for membership in selectors.memberships_in_tab(memberships=memberships, tab=tab)[:500]
    ]
    return render(
        request,
        "membership/console_memberships.html",
        {
            "console_section": "membership",
            "rules": rules.membership,
            "query": query,
            "tab": tab,
            "tabs": _tabs(rules, selectors.tab_counts(memberships=memberships), tab),
            "rows": rows,
            "decidable": tab in ("applied", "recommended_new", "recommended_renewal", "expired"),
        },
    )


@staff_required("reviewer")
@require_POST
def console_decide(request: HttpRequest) -> HttpResponse:
    rules = _rules()
    approve = request.POST.get("decision") == "approve"
    tab = request.POST.get("tab", "recommended_new")
    try:
        done = memberships_decide(
            rules=rules,
            actor=request.user,
            membership_ids=_ids(request),
            approve=approve,
            reason=request.POST.get("reason", ""),
        )
    except MembershipError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已{'通过' if approve else '退回'} {len(done)} 人。")
    return redirect(f"{reverse('console:memberships')}?tab={tab}")


@staff_required("reviewer")
def console_membership_detail(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Staff see the whole application and correct it (每项修改留痕)."""
    rules = _rules()
    membership = selectors.memberships_for_staff().filter(pk=membership_id).first()
    if membership is None:
        raise Http404
    error = None
    if request.method == "POST":
        answers = {name: request.POST.get(name, "") for name in STAFF_EDITABLE if name in request.POST}
        try:
            membership = membership_staff_edit(
                membership_id=membership.pk, actor=request.user, answers=answers
            )
        except MembershipError as problem:
            error = problem
        else:
            messages.success(request, "已保存修改（已记录操作日志）。")
            return redirect("console:membership", membership_id=membership.pk)
    return render(
        request,
        "membership/console_membership_detail.html",
        {
            "console_section": "membership",
            "membership": membership,
            "status_label": selectors.status_label(rules=rules, status=membership.status),
            "fields": [
                {
                    "name": name,
                    "label": label,
                    "value": membership.answers.get(name, ""),
                    "editable": name in STAFF_EDITABLE,
                }
                for name, label, _required in APPLICATION_FIELDS
            ],
            "events": selectors.membership_events(membership=membership),
            "fees": membership.fees.all(),
            "error": error,
        },
        status=422 if error else 200,
    )


@staff_required("reviewer")
@require_GET
def console_export(request: HttpRequest) -> HttpResponse:
    memberships = selectors.memberships_for_staff(query=request.GET.get("q", ""))
    return _export(_rules(), memberships, request.GET.get("tab", "all"))


@staff_required("reviewer")
@require_GET
def console_batch_pdf(request: HttpRequest, batch_id: int) -> HttpResponse:
    _rules()
    batch = selectors.RecommendationBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise Http404
    return _batch_pdf(batch)

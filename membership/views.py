"""Pages: a person finds a company and asks to join; the company decides and sees its people."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from membership.selectors import (
    company_people,
    company_search,
    join_requests_for_company,
    join_requests_for_person,
)
from membership.services import (
    JoinRequestError,
    join_request_approve,
    join_request_create,
    join_request_reject,
    join_request_withdraw,
)
from shared.accounts.forms import RejectForm
from shared.accounts.models import Company, CompanyStatus
from shared.permissions import company_required, person_required
from shared.validation import mask_id_number, mask_phone


@person_required
def my_company(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    return render(
        request,
        "membership/my_company.html",
        {
            "query": query,
            "results": company_search(query=query),
            "requests": join_requests_for_person(person=request.user)[:10],
            "profile": getattr(request.user, "profile", None),
        },
    )


@person_required
@require_POST
def join_company(request: HttpRequest) -> HttpResponse:
    company = Company.objects.filter(pk=request.POST.get("company_id"), status=CompanyStatus.ACTIVE).first()
    if company is None:
        messages.error(request, "单位不存在")
        return redirect("my-company")
    try:
        join_request_create(person=request.user, company=company)
    except JoinRequestError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已向「{company.name}」提交加入申请，请等待单位审核。")
    return redirect("my-company")


@person_required
@require_POST
def withdraw_join(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        join_request_withdraw(request_id=request_id, person=request.user)
    except JoinRequestError as error:
        messages.error(request, error.message)
    return redirect("my-company")


@company_required
def members(request: HttpRequest) -> HttpResponse:
    company = request.user.company
    people = [
        {
            "profile": profile,
            "id_number": mask_id_number(profile.id_number),
            "phone": mask_phone(profile.phone),
        }
        for profile in company_people(company=company)
    ]
    pending = [
        {
            "request": item,
            "id_number": mask_id_number(item.person.id_number),
            "phone": mask_phone(item.person.phone),
        }
        for item in join_requests_for_company(company=company)
    ]
    return render(
        request,
        "membership/members.html",
        {
            "company": company,
            "people": people,
            "pending": pending,
            "reject_form": RejectForm(),
            "operators": company.operators.filter(is_active=True).order_by("id"),
            "operator_link": request.session.pop("operator_link", None),
        },
    )


@company_required
@require_POST
def invite_operator(request: HttpRequest) -> HttpResponse:
    from shared.accounts.identity import IdentityError, company_operator_invite

    try:
        issued = company_operator_invite(
            company=request.user.company, actor=request.user, name=request.POST.get("name", "")
        )
    except IdentityError as error:
        messages.error(request, error.message)
    else:
        request.session["operator_link"] = request.build_absolute_uri(f"/invite/{issued.token}/")
    return redirect("company:members")


@company_required
@require_POST
def decide_join(request: HttpRequest, request_id: int) -> HttpResponse:
    company = request.user.company
    try:
        if request.POST.get("decision") == "approve":
            join_request_approve(request_id=request_id, company=company, actor=request.user)
            messages.success(request, "已同意加入。")
        else:
            join_request_reject(
                request_id=request_id,
                company=company,
                actor=request.user,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, "已拒绝。")
    except JoinRequestError as error:
        messages.error(request, error.message)
        if error.code == "not_found":
            return HttpResponse(status=404)
    return redirect("company:members")


MAX_ROSTER_BYTES = 20 * 1024 * 1024


@company_required
def roster(request: HttpRequest) -> HttpResponse:
    """单位人员管理: download the template, import many, bind one already registered."""
    from membership.roster import RosterError, RosterFileError, roster_bind_person, roster_import
    from tenant_configs.selectors import rules_current

    company = request.user.company
    from shared.excel.roster import ROSTER_COLUMNS

    context = {
        "company": company,
        "result": None,
        "file_error": None,
        "photos": None,
        "photo_error": None,
        "columns": ROSTER_COLUMNS,
        "add_errors": [],
        "add_values": {},
    }
    if request.method == "POST" and request.POST.get("action") == "import":
        upload = request.FILES.get("file")
        if upload is None:
            context["file_error"] = "请选择要导入的 Excel 文件"
        elif upload.size > MAX_ROSTER_BYTES:
            context["file_error"] = "文件过大（最大 20 MB），请分成几个文件导入"
        else:
            try:
                context["result"] = roster_import(
                    rules=rules_current(), company=company, actor=request.user, data=upload.read()
                )
            except RosterFileError as error:
                context["file_error"] = error.message
    elif request.method == "POST" and request.POST.get("action") == "photos":
        from membership.roster import roster_photos_import
        from shared.documents.checks import UploadProblem

        upload = request.FILES.get("zip")
        if upload is None or upload.size > MAX_ROSTER_BYTES * 15:
            context["photo_error"] = "请选择照片压缩包（.zip，最大 300 MB）"
        else:
            try:
                context["photos"] = roster_photos_import(
                    rules=rules_current(), company=company, actor=request.user, data=upload.read()
                )
            except (RosterError, UploadProblem) as error:
                context["photo_error"] = error.message
    elif request.method == "POST" and request.POST.get("action") == "add":
        from membership.roster import roster_add_person
        from shared.excel.roster import ROSTER_COLUMNS

        values = {column.key: request.POST.get(column.key, "") for column in ROSTER_COLUMNS}
        added = roster_add_person(rules=rules_current(), company=company, actor=request.user, values=values)
        if added.succeeded:
            messages.success(request, f"已添加 {values['name']}")
            return redirect("company:roster")
        context["add_errors"] = added.errors
        context["add_values"] = values
    elif request.method == "POST" and request.POST.get("action") == "bind":
        try:
            profile = roster_bind_person(
                company=company,
                actor=request.user,
                name=request.POST.get("name", ""),
                id_number=request.POST.get("id_number", ""),
            )
        except RosterError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"已绑定 {profile.name}")
            return redirect("company:roster")
    return render(request, "membership/roster.html", context)


@company_required
def roster_template(request: HttpRequest) -> HttpResponse:
    from shared.excel.roster import build_roster_template

    response = HttpResponse(
        build_roster_template(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = (
        "attachment; filename*=UTF-8''%E5%AD%A6%E5%91%98%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
    )
    return response

"""Private documents on the tenant site: the access-checked file view, the person's ID photo page and the
staff review queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from shared.accounts.models import StaffRole
from shared.documents.checks import UploadProblem, file_too_large
from shared.documents.models import Document, DocumentStatus
from shared.documents.selectors import (
    current_document,
    document_get_for_viewer,
    document_status_counts,
    documents_for_review,
)
from shared.documents.services import (
    DocumentError,
    document_accept,
    document_return,
    document_upload,
    document_view_record,
)
from shared.permissions import person_required, staff_required
from shared.validation import mask_id_number
from tenant_configs.schema import DocumentFormat, DocumentSpec, Rules
from tenant_configs.selectors import rules_current

# The largest upload request accepted, refused from its Content-Length before the body is read. Matches the
# largest `max_kb` a rules file may set (20480 KB); the reverse proxy sets the same `client_max_body_size`.
MAX_UPLOAD_REQUEST_BYTES = 20 * 1024 * 1024
REVIEW_PAGE_SIZE = 50
_ACCEPT = {
    DocumentFormat.JPG: ".jpg,.jpeg,image/jpeg",
    DocumentFormat.PNG: ".png,image/png",
    DocumentFormat.PDF: ".pdf,application/pdf",
}
_FORMAT_LABELS = {DocumentFormat.JPG: "JPG", DocumentFormat.PNG: "PNG", DocumentFormat.PDF: "PDF"}


# ---------------------------------------------------------------------------------------------------------
# the file itself
# ---------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def document_file(request: HttpRequest, document_id: int) -> FileResponse:
    """Stream a document to someone allowed to see it; 404 for everyone else, as for a missing id."""
    try:
        document = document_get_for_viewer(document_id=document_id, viewer=request.user)
        handle = document.file.storage.open(document.file.name, "rb")
    except (Document.DoesNotExist, FileNotFoundError):
        raise Http404 from None
    document_view_record(document=document, viewer=request.user)
    extension = document.file.name.rsplit(".", 1)[-1] if "." in document.file.name else "bin"
    response = FileResponse(
        handle,
        content_type=document.content_type,
        as_attachment=False,
        filename=f"{document.key}-{document.pk}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------------------------------------
# the person's ID photo
# ---------------------------------------------------------------------------------------------------------


def _sizes_text(sizes: tuple[tuple[int, int], ...]) -> str:
    return " 或 ".join(f"{width}×{height}" for width, height in sizes)


def spec_requirements(spec: DocumentSpec) -> list[str]:
    """The spec as sentences a person can follow before choosing a file."""
    lines = [f"格式：{'、'.join(_FORMAT_LABELS[item] for item in spec.formats)}"]
    if spec.allowed_pixel_sizes:
        lines.append(f"尺寸：{_sizes_text(spec.allowed_pixel_sizes)} 像素（宽×高）")
    else:
        bounds = [
            f"{label}{value} 像素"
            for label, value in (
                ("宽度至少 ", spec.min_width),
                ("高度至少 ", spec.min_height),
                ("宽度最多 ", spec.max_width),
                ("高度最多 ", spec.max_height),
            )
            if value
        ]
        if bounds:
            lines.append("尺寸：" + "，".join(bounds))
    lines.append(f"文件大小：不超过 {spec.max_kb} KB")
    if spec.color_required:
        lines.append("须为彩色照片")
    if spec.white_background:
        lines.append("须为白色背景")
    if spec.template_note:
        lines.append(spec.template_note)
    return lines


def _render_photo(request: HttpRequest, *, rules: Rules, error: str = "", status: int = 200) -> HttpResponse:
    spec = rules.identity.profile_photo
    if spec is None:
        return render(request, "documents/photo.html", {"spec": None}, status=404)
    current = current_document(owner=request.user, key=spec.key)
    return render(
        request,
        "documents/photo.html",
        {
            "spec": spec,
            "requirements": spec_requirements(spec),
            "accept": ",".join(_ACCEPT[item] for item in spec.formats),
            "current": current,
            "review_required": rules.identity.photo_review_by_staff,
            "error": error,
            "max_request_mb": MAX_UPLOAD_REQUEST_BYTES // (1024 * 1024),
        },
        status=status,
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# CSRF is checked by `_photo_checked`, after the size check: an oversized request is answered from its
# headers, without reading (or spooling to disk) a body that is never used.
@csrf_exempt
@person_required
def photo(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and _content_length(request) > MAX_UPLOAD_REQUEST_BYTES:
        rules = rules_current()
        message = f"上传内容超过 {MAX_UPLOAD_REQUEST_BYTES // (1024 * 1024)} MB，请缩小照片后重新上传"
        return _render_photo(request, rules=rules, error=message, status=413)
    return _photo_checked(request)


@csrf_protect
def _photo_checked(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    spec = rules.identity.profile_photo
    if request.method != "POST" or spec is None:
        return _render_photo(request, rules=rules)
    upload = request.FILES.get("file")
    if upload is None:
        return _render_photo(request, rules=rules, error="请选择要上传的照片文件", status=400)
    try:
        if upload.size > spec.max_kb * 1024:
            raise file_too_large(size_bytes=upload.size, max_kb=spec.max_kb)
        document = document_upload(
            owner=request.user,
            key=spec.key,
            spec=spec,
            data=upload.read(),
            filename=upload.name or "",
            review_required=rules.identity.photo_review_by_staff,
        )
    except (UploadProblem, DocumentError) as problem:
        return _render_photo(request, rules=rules, error=problem.message, status=400)
    if document.status == DocumentStatus.ACCEPTED:
        messages.success(request, "照片已上传。")
    else:
        messages.success(request, "照片已上传，等待协会确认。")
    return redirect("documents:photo")


# ---------------------------------------------------------------------------------------------------------
# staff review
# ---------------------------------------------------------------------------------------------------------


def _document_labels(rules: Rules) -> dict[str, str]:
    """Key -> label of every document slot the rules define (the first label wins for a shared key)."""
    specs: list[DocumentSpec] = []
    if rules.identity.profile_photo is not None:
        specs.append(rules.identity.profile_photo)
    specs.extend(rules.identity.company_documents)
    for program in rules.programs:
        specs.extend(program.documents)
    if rules.membership.photo is not None:
        specs.append(rules.membership.photo)
    labels: dict[str, str] = {}
    for spec in specs:
        labels.setdefault(spec.key, spec.label)
    return labels


def _status_from(value: str | None) -> str:
    return value if value in DocumentStatus.values else DocumentStatus.UPLOADED


def _review_row(document: Document, labels: dict[str, str]) -> dict[str, object]:
    profile = getattr(document.owner, "profile", None)
    if document.company_id is not None:
        holder, id_number = document.company.name, ""
    elif profile is not None:
        holder, id_number = profile.name, mask_id_number(profile.id_number)
    else:
        holder, id_number = str(document.owner), mask_id_number(document.owner.id_number)
    return {
        "document": document,
        "label": labels.get(document.key, document.key),
        "holder": holder,
        "masked_id_number": id_number,
    }


@staff_required(StaffRole.REVIEWER)
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    status = _status_from(request.GET.get("status"))
    labels = _document_labels(rules_current())
    page = Paginator(documents_for_review(status=status), REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = document_status_counts()
    return render(
        request,
        "documents/review.html",
        {
            "console_section": "documents",
            "status": status,
            "statuses": [(value, label, counts[value]) for value, label in DocumentStatus.choices],
            "rows": [_review_row(document, labels) for document in page.object_list],
            "page": page,
        },
    )


def _back_to_queue(request: HttpRequest) -> str:
    status = _status_from(request.POST.get("status"))
    return f"{reverse('documents:review')}?status={status}"


@staff_required(StaffRole.REVIEWER)
@require_POST
def accept(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document_accept(document_id=document_id, actor=request.user)
    except Document.DoesNotExist:
        raise Http404 from None
    except DocumentError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"资料 #{document_id} 已确认。")
    return redirect(_back_to_queue(request))


@staff_required(StaffRole.REVIEWER)
@require_POST
def return_(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document_return(document_id=document_id, actor=request.user, reason=request.POST.get("reason", ""))
    except Document.DoesNotExist:
        raise Http404 from None
    except DocumentError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"资料 #{document_id} 已退回。")
    return redirect(_back_to_queue(request))

"""Learning pages: the person's courses and the player, the access-checked video stream, the staff
console (courses, lessons, records) and the company's view of its people's records."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from learning import selectors, services
from learning.models import Course, Lesson
from learning.rules import RangeNotSatisfiable, byte_range
from registration.models import Program
from shared.permissions import company_required, person_required, staff_required
from tenant_configs.selectors import rules_current

STREAM_CHUNK_BYTES = 256 * 1024
RECORDS_PAGE_SIZE = 50


def _learning_enabled() -> None:
    if not rules_current().learning.enabled:
        raise Http404


# --- the person ---------------------------------------------------------------------------------------------


@person_required
@require_GET
def my_courses(request: HttpRequest) -> HttpResponse:
    _learning_enabled()
    rules = rules_current()
    rows = selectors.course_rows_for_person(person=request.user, rules=rules)
    return render(request, "learning/my_courses.html", {"rows": rows, "learning": rules.learning})


@person_required
@require_GET
def lesson_player(request: HttpRequest, lesson_id: int) -> HttpResponse:
    _learning_enabled()
    try:
        lesson = selectors.lesson_get_for_person(lesson_id=lesson_id, person=request.user)
    except Lesson.DoesNotExist:
        raise Http404 from None
    rules = rules_current()
    progress = selectors.progress_for(person=request.user, lesson=lesson)
    policy = rules.learning.video
    resume_at = progress.last_position if progress is not None and policy.resume else 0
    return render(
        request,
        "learning/player.html",
        {
            "lesson": lesson,
            "progress": progress,
            "policy": policy,
            "resume_at": resume_at,
            "furthest": progress.furthest_second if progress is not None else 0,
            "lessons": list(lesson.course.lessons.all()),
        },
    )


def _file_slice(handle, first: int, length: int):
    try:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(STREAM_CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


@person_required
@require_GET
def lesson_video(request: HttpRequest, lesson_id: int) -> HttpResponse:
    """The lesson's video, only to persons enrolled in its course, with single-range requests (206)."""
    _learning_enabled()
    try:
        lesson = selectors.lesson_get_for_person(lesson_id=lesson_id, person=request.user)
        size = lesson.video.storage.size(lesson.video.name)
        handle = lesson.video.storage.open(lesson.video.name, "rb")
    except (Lesson.DoesNotExist, FileNotFoundError):
        raise Http404 from None
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = wanted if wanted is not None else (0, size - 1)
    length = last - first + 1 if size else 0
    response = StreamingHttpResponse(
        _file_slice(handle, first, length),
        status=206 if wanted is not None else 200,
        content_type=lesson.content_type,
    )
    if wanted is not None:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = "inline"
    return response


# --- staff console ----------------------------------------------------------------------------------------


class CourseForm(forms.Form):
    title = forms.CharField(label="课程名称", max_length=120)
    program = forms.ModelChoiceField(
        label="培训项目",
        queryset=Program.objects.order_by("name"),
        required=False,
        empty_label="（不限项目）",
    )
    test_on = forms.DateField(
        label="测试日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    description = forms.CharField(label="课程说明", widget=forms.Textarea(attrs={"rows": 3}), required=False)


class LessonForm(forms.Form):
    title = forms.CharField(label="课件名称", max_length=120)
    order = forms.IntegerField(label="顺序", min_value=1, initial=1)
    duration_seconds = forms.IntegerField(label="时长（秒）", min_value=1)
    video = forms.FileField(label="视频文件（MP4 / WebM）")


@staff_required("academic")
def console_courses(request: HttpRequest) -> HttpResponse:
    rules = rules_current()
    form = CourseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            course = services.course_create(
                rules=rules,
                actor=request.user,
                data=services.CourseInput(
                    title=data["title"],
                    program=data["program"],
                    description=data["description"],
                    test_on=data["test_on"],
                ),
            )
        except services.LearningError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "课程已创建")
            return redirect("learning:console-course", course_id=course.pk)
    courses = Course.objects.select_related("program").prefetch_related("lessons")
    return render(
        request,
        "learning/console_courses.html",
        {"form": form, "courses": courses, "console_section": "learning", "enabled": rules.learning.enabled},
    )


@staff_required("academic")
def console_course(request: HttpRequest, course_id: int) -> HttpResponse:
    rules = rules_current()
    try:
        course = selectors.course_get(course_id=course_id)
    except Course.DoesNotExist:
        raise Http404 from None
    form = LessonForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.lesson_create(
                rules=rules,
                actor=request.user,
                course=course,
                data=services.LessonInput(
                    title=data["title"], order=data["order"], duration_seconds=data["duration_seconds"]
                ),
                video=data["video"],
            )
        except services.LearningError as error:
            form.add_error("video" if error.code.startswith("video") else None, error.message)
        else:
            messages.success(request, "课件已上传")
            return redirect("learning:console-course", course_id=course.pk)
    return render(
        request,
        "learning/console_course.html",
        {
            "form": form,
            "course": course,
            "lessons": course.lessons.all(),
            "deadline": selectors.course_deadline(course=course, rules=rules),
            "console_section": "learning",
        },
    )


def _records_page(request: HttpRequest, records) -> object:
    return Paginator(records, RECORDS_PAGE_SIZE).get_page(request.GET.get("page"))


@staff_required("academic")
@require_GET
def console_records(request: HttpRequest) -> HttpResponse:
    page = _records_page(request, selectors.learning_records())
    return render(
        request,
        "learning/records.html",
        {"page": page, "base": "console/base.html", "console_section": "learning"},
    )


@company_required
@require_GET
def company_records(request: HttpRequest) -> HttpResponse:
    if not rules_current().learning.records_visible_to_company:
        raise PermissionDenied
    page = _records_page(request, selectors.learning_records(company=request.user.company))
    return render(request, "learning/records.html", {"page": page, "base": "base.html"})

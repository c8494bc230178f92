"""sichuan (DESIGN §4, §7): completion gates the test card. A paid applicant of jianli_2022, seated in an
exam whose printing window is open, sees on 我的考试 that the 测试证 cannot be printed yet; after watching
the program's one video lesson to the end in the real player (before the deadline, three days before the
course's test date), 我的考试 offers the 测试证 and it downloads as a PDF."""

import base64
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_person, make_session
from tests.browser.test_learning_browser import _remove_course

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "sichuan.localhost"
VIDEO = Path(__file__).parent / "data" / "lesson-8s.webm"
NOT_YET = "尚未满足打印条件（请先完成缴费或学习）"

# fetch() from the page itself (its cookies, its host mapping): status, final URL, type and the body.
FETCH = """async (url) => {
  const response = await fetch(url);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return {status: response.status, url: response.url, type: response.headers.get("content-type"),
          body: btoa(binary)};
}"""


def fetched(page, path: str) -> dict:
    result = page.evaluate(FETCH, path)
    result["body"] = base64.b64decode(result["body"])
    return result


def _paid_application(person, session):
    from registration.models import Application, ApplicationStatus

    with schema_context("sichuan"):
        return Application.objects.create(
            session=session,
            program=session.program,
            enrolment_key=session.program.code,
            person=person,
            channel="self",
            status=ApplicationStatus.PAID,
            rules_version=1,
            submitted_at=timezone.now(),
        )


def _course_with_lesson(program):
    """The program's one course (test in 10 days, so the completion deadline is in 7) with the 8 s lesson."""
    from learning import services
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context("sichuan"):
        rules = rules_current()
        admin = User.objects.get(username="admin")
        course = services.course_create(
            rules=rules,
            actor=admin,
            data=services.CourseInput(
                title="测试证前置视频课程", program=program, test_on=timezone.localdate() + timedelta(days=10)
            ),
        )
        lesson = services.lesson_create(
            rules=rules,
            actor=admin,
            course=course,
            data=services.LessonInput(title="第一讲 监理规范", order=1, duration_seconds=8),
            video=SimpleUploadedFile("lesson.webm", VIDEO.read_bytes(), content_type="video/webm"),
        )
        return course, lesson


def _seat(application):
    """An exam of the program whose printing window is open, with the applicant seated."""
    from certificates.exams import exam_seats_assign, exam_session_create
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context("sichuan"):
        admin = User.objects.get(username="admin")
        now = timezone.now()
        exam = exam_session_create(
            program_id=application.program_id,
            name=f"监理机考{random.randint(1000, 9999)}",
            kind="normal",
            starts_at=now + timedelta(days=12),
            location="成都市武侯区机考中心",
            seats=5,
            print_opens_at=now - timedelta(hours=1),
            print_closes_at=now + timedelta(days=5),
            actor=admin,
        )
        (entry,) = exam_seats_assign(
            rules=rules_current(), session_id=exam.pk, actor=admin, application_ids=[application.pk]
        )
        return exam, entry


def forget_exam(schema: str, exam) -> None:
    """The exam session, its seats, scores and certificates, with their audit entries."""
    from certificates.models import Certificate, ExamEntry, ExamSession, Score
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context(schema):
        entries = list(ExamEntry.objects.filter(session=exam))
        scores = list(Score.objects.filter(entry__in=entries))
        certificate_ids = [score.certificate_id for score in scores if score.certificate_id]
        Score.objects.filter(pk__in=[score.pk for score in scores]).delete()
        ExamEntry.objects.filter(pk__in=[entry.pk for entry in entries]).delete()
        for certificate in Certificate.objects.filter(pk__in=certificate_ids):
            if certificate.pdf:
                certificate.pdf.delete(save=False)
        AuditEntry.objects.filter(
            object_type="certificates.certificate", object_id__in=[str(pk) for pk in certificate_ids]
        ).delete()
        Certificate.objects.filter(pk__in=certificate_ids).delete()
        AuditEntry.objects.filter(
            object_type__in=("certificates.examsession", "certificates.examentry"),
            object_id__in=[str(exam.pk), *[str(entry.pk) for entry in entries]],
        ).delete()
        ExamSession.objects.filter(pk=exam.pk).delete()


def tenant_snapshot(schema: str, program_code: str) -> tuple[set[tuple[str, int]], bool]:
    """The numbering counters and whether the program exist before the test (so only its own go)."""
    from certificates.models import CertificateCounter
    from registration.models import Program

    with schema_context(schema):
        counters = set(CertificateCounter.objects.values_list("kind_code", "year"))
        return counters, Program.objects.filter(code=program_code).exists()


def forget_leftovers(schema: str, *, session, before: tuple[set[tuple[str, int]], bool]) -> None:
    """What the shared cleanup leaves: the session's audit entry, the counters and program the test made.
    Call after `cleanup` (the program goes only once its sessions have)."""
    from certificates.models import CertificateCounter
    from registration.models import Program
    from shared.models import AuditEntry

    counters, program_existed = before
    connection.set_schema_to_public()
    with schema_context(schema):
        AuditEntry.objects.filter(
            object_type="registration.trainingsession", object_id=str(session.pk)
        ).delete()
        for kind_code, year in CertificateCounter.objects.values_list("kind_code", "year"):
            if (kind_code, year) not in counters:
                CertificateCounter.objects.filter(kind_code=kind_code, year=year).delete()
        if not program_existed:
            AuditEntry.objects.filter(
                object_type="registration.program", object_id=str(session.program_id)
            ).delete()
            Program.objects.filter(pk=session.program_id).delete()


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "read-back.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_sichuan_student_prints_the_test_card_only_after_watching_the_course(
    browser, browser_context_args, live_url, settings, tmp_path
):
    from learning.models import CourseCompletion

    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    connection.set_schema_to_public()
    before = tenant_snapshot("sichuan", "jianli_2022")
    person = make_person("sichuan", name="孙测试")
    session = make_session("sichuan", "jianli_2022", unit_code="jianli", name="测试证浏览器期")
    application = _paid_application(person, session)
    course, lesson = _course_with_lesson(session.program)
    exam, entry = _seat(application)
    try:
        # Given a paid applicant with a seat and the printing window open, but the course not watched:
        page = logged_in(browser, browser_context_args, live_url, HOST, person)
        page.goto(live_url(HOST, "/exams/"))
        row = page.locator(f"tr.exam-row[data-ticket='{entry.ticket_number}']")
        expect(row.locator(".refusal")).to_have_text(NOT_YET)
        expect(row.locator("a.print-ticket")).to_have_count(0)
        # The ticket's address itself refuses too: back to 我的考试 with the reason, no PDF.
        refused = fetched(page, f"/exams/{entry.pk}/ticket.pdf")
        assert (refused["status"], refused["type"].split(";")[0]) == (200, "text/html")
        assert refused["url"].endswith("/exams/") and not refused["body"].startswith(b"%PDF")
        assert NOT_YET in refused["body"].decode()

        # When the student watches the lesson to the end in the player:
        page.goto(live_url(HOST, "/learning/"))
        page.locator(f"#lesson-{lesson.pk} a").click()
        expect(page.locator("h1")).to_contain_text("第一讲 监理规范")
        page.wait_for_function("document.getElementById('lesson-video').readyState >= 1")
        page.evaluate("const v = document.getElementById('lesson-video'); v.muted = true; v.play()")
        page.wait_for_function("document.getElementById('lesson-video').ended", timeout=30_000)
        expect(page.locator("#status")).to_have_text("本课件已学完", timeout=10_000)
        with schema_context("sichuan"):
            assert CourseCompletion.objects.filter(person=person, course=course).count() == 1

        # Then 我的考试 offers the 测试证, and it prints.
        page.goto(live_url(HOST, "/exams/"))
        expect(row.locator(".refusal")).to_have_count(0)
        link = row.locator("a.print-ticket")
        expect(link).to_be_visible()
        response = fetched(page, link.get_attribute("href"))
        assert (response["status"], response["type"]) == (200, "application/pdf")
        data = response["body"]
        assert data.startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = pdf_text(data, tmp_path)
            assert "测试证" in text and entry.ticket_number in text and "孙测试" in text
    finally:
        forget_exam("sichuan", exam)
        _remove_course(course)
        cleanup("sichuan", users=[person], sessions=[session])
        forget_leftovers("sichuan", session=session, before=before)

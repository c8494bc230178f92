"""The exam flow in a real browser on henan (准考证 after approval, 合格证 after pass and review): the student
prints the admission ticket; staff import scores from an .xlsx with one bad row (the row error is shown,
nothing is imported), fix it, import, and review the passes; the student then downloads the 合格证."""

import io
import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_person
from tests.ids import valid_id_number

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "henan.localhost"


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    workbook.active.append(["身份证号", "成绩"])
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _seat(person):
    """An approved application of the person and a seat in an exam whose printing window is open."""
    from certificates.exams import exam_seats_assign, exam_session_create
    from registration.models import Application, Program, TrainingSession
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context("henan"):
        admin = User.objects.get(username="admin")
        program, _ = Program.objects.get_or_create(
            code="new_certificate", defaults={"name": "施工现场专业人员新取证"}
        )
        session = TrainingSession.objects.create(
            program=program, code=f"EX{random.randint(10**6, 10**7 - 1)}", name="考试浏览器测试期"
        )
        application = Application.objects.create(
            session=session,
            program=program,
            enrolment_key=program.code,
            person=person,
            channel="self",
            status="approved",
            rules_version=1,
            submitted_at=timezone.now(),
        )
        now = timezone.now()
        exam = exam_session_create(
            program_id=program.pk,
            name=f"浏览器测试考试{random.randint(1000, 9999)}",
            kind="normal",
            starts_at=now + timedelta(days=5),
            location="郑州市金水区考点",
            seats=5,
            print_opens_at=now - timedelta(hours=1),
            print_closes_at=now + timedelta(days=5),
            actor=admin,
        )
        (entry,) = exam_seats_assign(
            rules=rules_current(), session_id=exam.pk, actor=admin, application_ids=[application.pk]
        )
        return session, exam, entry


def _forget(exam) -> None:
    from certificates.models import Certificate, ExamEntry, ExamSession, Score
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context("henan"):
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


def test_staff_import_scores_with_a_bad_row_fix_it_review_and_the_student_gets_the_certificate(
    browser, browser_context_args, live_url
):
    from certificates.models import Certificate, Score
    from shared.accounts.models import User
    from shared.celery import app

    connection.set_schema_to_public()
    person = make_person("henan", name="钱多多")
    session, exam, entry = _seat(person)
    app.conf.task_always_eager = True  # the certificate PDF is stored by a task after commit
    try:
        student = logged_in(browser, browser_context_args, live_url, HOST, person)
        student.goto(live_url(HOST, "/exams/"))
        row = student.locator(f"tr.exam-row[data-ticket='{entry.ticket_number}']")
        with student.expect_download() as download_info:
            row.locator("a.print-ticket").click()
        assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF-")

        with schema_context("henan"):
            admin = User.objects.get(username="admin")
        staff = logged_in(browser, browser_context_args, live_url, HOST, admin)
        staff.goto(live_url(HOST, f"/exams/console/{exam.pk}/"))
        unknown = valid_id_number("410102", "19700101", "999")
        staff.locator("#import-form input[type=file]").set_input_files(
            files=[
                {
                    "name": "成绩.xlsx",
                    "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "buffer": _xlsx([[person.id_number, 82.5], [unknown, 70]]),
                }
            ]
        )
        staff.locator("#import-form button").click()
        expect(staff.locator("tr.row-error")).to_have_text(f"3身份证号 {unknown} 不是本场考试的考生")
        with schema_context("henan"):
            assert not Score.objects.filter(entry=entry).exists()

        staff.locator("#import-form input[type=file]").set_input_files(
            files=[
                {
                    "name": "成绩.xlsx",
                    "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "buffer": _xlsx([[person.id_number, 82.5]]),
                }
            ]
        )
        staff.locator("#import-form button").click()
        expect(staff.locator(".messages li.success")).to_have_text("已导入 1 条成绩，其中合格 1 人")
        staff_row = staff.locator(f"tr.exam-entry[data-ticket='{entry.ticket_number}']")
        expect(staff_row.locator(".score")).to_have_text("82.5")
        expect(staff_row.locator(".review")).to_have_text("待确认")

        staff.locator("#review-passes").click()
        expect(staff.locator(".messages li.success")).to_have_text("已确认 1 人合格，发放证书 1 份")
        expect(staff_row.locator(".review")).to_have_text("已确认")

        with schema_context("henan"):
            certificate = Certificate.objects.get(holder=person, kind_code="qualification")
        student.goto(live_url(HOST, "/exams/"))
        expect(row.locator(".result")).to_have_text("合格（已确认）")
        student.goto(live_url(HOST, "/certificates/"))
        certificate_row = student.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        with student.expect_download() as download_info:
            certificate_row.locator("a.download").click()
        assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF-")
    finally:
        app.conf.task_always_eager = False
        _forget(exam)
        cleanup("henan", users=[person], sessions=[session])

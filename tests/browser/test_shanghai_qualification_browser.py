"""shanghai (DESIGN §4, §7): after a pass plus the association's review, the company downloads the 合格证.
A paid applicant of the company is seated in an exam; staff enter a passing score on the exam console and
confirm the passes (the 合格证 is issued); the company's operator finds it on 本单位人员证书 and downloads
the PDF; its public verification page on shanghai's own domain says 有效 with the holder masked, and the
same code is unknown on sichuan's domain."""

import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_company, make_person, make_session
from tests.browser.test_sichuan_learning_test_card_browser import (
    forget_exam,
    forget_leftovers,
    tenant_snapshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "shanghai.localhost"


def _paid_and_seated(person, session):
    """A paid application of the person and a seat in an exam of its program."""
    from certificates.exams import exam_seats_assign, exam_session_create
    from registration.models import Application, ApplicationStatus
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context("shanghai"):
        admin = User.objects.get(username="admin")
        application = Application.objects.create(
            session=session,
            program=session.program,
            enrolment_key=session.program.code,
            person=person,
            company=person.profile.company,
            channel="company",
            status=ApplicationStatus.PAID,
            rules_version=1,
            submitted_at=timezone.now(),
        )
        now = timezone.now()
        exam = exam_session_create(
            program_id=session.program_id,
            name=f"专项培训结业考试{random.randint(1000, 9999)}",
            kind="normal",
            starts_at=now - timedelta(hours=2),
            location="上海市静安区考点",
            seats=5,
            print_opens_at=now - timedelta(days=3),
            print_closes_at=now - timedelta(hours=2),
            actor=admin,
        )
        (entry,) = exam_seats_assign(
            rules=rules_current(), session_id=exam.pk, actor=admin, application_ids=[application.pk]
        )
        return admin, exam, entry


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_shanghai_pass_and_review_give_the_company_the_qualification_certificate(
    browser, browser_context_args, live_url, settings, tmp_path
):
    from certificates.models import Certificate, Score
    from shared.celery import app

    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    connection.set_schema_to_public()
    before = tenant_snapshot("shanghai", "zhuanxiang")
    company, operator = make_company("shanghai", "上海浏览器发证设计院")
    person = make_person("shanghai", name="周合格", company=company, birth="19880808")
    session = make_session("shanghai", "zhuanxiang", name=f"专项培训发证浏览器班{random.randint(100, 999)}")
    admin, exam, entry = _paid_and_seated(person, session)
    app.conf.task_always_eager = True  # the certificate PDF is stored by a task after commit
    try:
        # Given staff on the exam console: a passing score for the seated person, then the review.
        staff = logged_in(browser, browser_context_args, live_url, HOST, admin)
        staff.goto(live_url(HOST, f"/exams/console/{exam.pk}/"))
        staff_row = staff.locator(f"tr.exam-entry[data-ticket='{entry.ticket_number}']")
        staff_row.locator("input[name=score]").fill("78.5")
        staff_row.locator("button:text-is('录入')").click()
        expect(staff.locator(".messages li.success")).to_have_text("成绩已录入")
        expect(staff_row.locator(".score")).to_have_text("78.5")
        expect(staff_row.locator(".result")).to_have_text("合格")
        expect(staff_row.locator(".review")).to_have_text("待确认")
        with schema_context("shanghai"):
            assert not Certificate.objects.filter(holder=person, kind_code="qualification").exists()

        staff.locator("#review-passes").click()
        expect(staff.locator(".messages li.success")).to_have_text("已确认 1 人合格，发放证书 1 份")
        expect(staff_row.locator(".review")).to_have_text("已确认")
        with schema_context("shanghai"):
            certificate = Certificate.objects.get(holder=person, kind_code="qualification")
            assert Score.objects.get(entry=entry).certificate_id == certificate.pk
        assert certificate.title == "合格证"
        assert certificate.number.startswith(f"SH{timezone.localdate().year}")

        # When the company's operator opens its people's certificates and downloads the 合格证:
        company_page = logged_in(browser, browser_context_args, live_url, HOST, operator)
        company_page.goto(live_url(HOST, "/certificates/"))
        expect(company_page.locator("h1")).to_have_text("本单位人员证书")
        row = company_page.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        expect(row).to_contain_text("周合格")
        expect(row).to_contain_text("合格证")
        expect(row.locator(".status")).to_have_text("有效")
        with company_page.expect_download() as download_info:
            row.locator("a.download").click()
        data = Path(download_info.value.path()).read_bytes()
        assert data.startswith(b"%PDF-")
        if shutil.which("pdftotext"):
            text = _pdf_text(data, tmp_path)
            assert certificate.number in text and "周合格" in text

        # Then its public verification page (no login) says 有效 and masks the holder.
        visitor = browser.new_context(**browser_context_args).new_page()
        visitor.goto(live_url(HOST, f"/verify/{certificate.verification_code}/"))
        expect(visitor.locator("#certificate-state")).to_have_text("有效")
        expect(visitor.locator("#certificate-title")).to_have_text("合格证")
        expect(visitor.locator("#certificate-number")).to_have_text(certificate.number)
        expect(visitor.locator("#certificate-holder")).to_have_text("周*格")
        expect(visitor.locator("body")).not_to_contain_text("周合格")
        expect(visitor.locator("body")).not_to_contain_text(person.id_number)
        # Another tenant's domain does not know the code.
        visitor.goto(live_url("sichuan.localhost", f"/verify/{certificate.verification_code}/"))
        expect(visitor.locator("#certificate-not-found")).to_have_text("未找到该证书")
    finally:
        app.conf.task_always_eager = False
        forget_exam("shanghai", exam)
        cleanup("shanghai", users=[person, operator], sessions=[session], companies=[company])
        forget_leftovers("shanghai", session=session, before=before)

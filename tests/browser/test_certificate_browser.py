"""The certificate flow in a real browser on henan's subdomain (its rules: registry on, 合格证 valid 3 years):
a student downloads their certificate PDF, the QR code in it leads (path on the live server) to the public
verification page, which says 有效 with the holder masked; staff revoke it in the console — refused without
a reason, done with one — and the same page then says 已撤销."""

import random
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_person
from tests.unit.test_certificate_numbering import pdf_qr_codes, pdf_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "henan.localhost"


def _issue(person):
    """A completed application of the person and its 合格证, committed (the live server reads them)."""
    from certificates.services import certificate_issue
    from registration.models import Application, Program, TrainingSession
    from shared.accounts.models import User
    from shared.celery import app
    from tenant_configs.selectors import rules_current

    with schema_context("henan"):
        program, _ = Program.objects.get_or_create(
            code="new_certificate", defaults={"name": "施工现场专业人员新证培训"}
        )
        session = TrainingSession.objects.create(
            program=program, code=f"CB{random.randint(10**6, 10**7 - 1)}", name="证书浏览器测试期"
        )
        application = Application.objects.create(
            session=session,
            program=program,
            enrolment_key=program.code,
            person=person,
            channel="self",
            status="completed",
            rules_version=1,
            submitted_at=timezone.now(),
        )
        # The PDF is stored by a task after commit: run it here, not through a broker.
        app.conf.task_always_eager = True
        try:
            certificate = certificate_issue(
                rules=rules_current(),
                kind_code="qualification",
                holder=person,
                application=application,
                actor=User.objects.get(username="admin"),
            )
        finally:
            app.conf.task_always_eager = False
        return certificate, session


def _forget(certificate) -> None:
    from certificates.models import Certificate
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context("henan"):
        AuditEntry.objects.filter(
            object_type="certificates.certificate", object_id=str(certificate.pk)
        ).delete()
        stored = Certificate.objects.filter(pk=certificate.pk).first()
        if stored is not None and stored.pdf:
            stored.pdf.delete(save=False)
        Certificate.objects.filter(pk=certificate.pk).delete()


def test_student_downloads_the_pdf_the_qr_verifies_and_a_revocation_shows(
    browser, browser_context_args, live_url
):
    from certificates.models import Certificate
    from shared.accounts.models import User

    connection.set_schema_to_public()
    person = make_person("henan", name="赵敏敏")
    certificate, session = _issue(person)
    try:
        student = logged_in(browser, browser_context_args, live_url, HOST, person)
        student.goto(live_url(HOST, "/certificates/"))
        row = student.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        expect(row.locator(".status")).to_have_text("有效")
        with student.expect_download() as download_info:
            row.locator("a.download").click()
        data = Path(download_info.value.path()).read_bytes()
        assert data.startswith(b"%PDF-")

        expected_url = f"https://{HOST}/verify/{certificate.verification_code}/"
        if shutil.which("pdftotext"):
            text = pdf_text(data)
            assert certificate.number in text and "赵敏敏" in text
        if shutil.which("zbarimg"):
            assert pdf_qr_codes(data) == [expected_url]
            url = pdf_qr_codes(data)[0]
        else:
            url = expected_url  # QR-DECODE-SKIPPED: zbarimg missing; the URL the QR must carry
        path = urlsplit(url).path

        visitor = browser.new_context(**browser_context_args).new_page()  # no login
        visitor.goto(live_url(HOST, path))
        expect(visitor.locator("#certificate-state")).to_have_text("有效")
        expect(visitor.locator("#certificate-number")).to_have_text(certificate.number)
        expect(visitor.locator("#certificate-holder")).to_have_text("赵*敏")
        expect(visitor.locator("body")).not_to_contain_text(person.id_number)

        with schema_context("henan"):
            admin = User.objects.get(username="admin")
        staff = logged_in(browser, browser_context_args, live_url, HOST, admin)
        staff.goto(live_url(HOST, f"/certificates/console/?q={certificate.number}"))
        staff_row = staff.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        staff_row.locator("button:text-is('撤销')").click()
        expect(staff.locator(".messages li.error")).to_have_text("请填写撤销原因")
        with schema_context("henan"):
            assert Certificate.objects.get(pk=certificate.pk).status == "issued"

        staff_row = staff.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        staff_row.locator("input[name=reason]").fill("培训记录有误")
        staff_row.locator("button:text-is('撤销')").click()
        expect(staff.locator(".messages li.success")).to_have_text(f"证书 {certificate.number} 已撤销")

        visitor.reload()
        expect(visitor.locator("#certificate-state")).to_have_text("已撤销")
        student.goto(live_url(HOST, "/certificates/"))
        expect(row.locator(".status")).to_have_text("已撤销")

        tampered = path.replace(certificate.verification_code, certificate.verification_code[::-1])
        visitor.goto(live_url(HOST, tampered))
        expect(visitor.locator("h1")).to_have_text("未找到该证书")
    finally:
        _forget(certificate)
        cleanup("henan", users=[person], sessions=[session])

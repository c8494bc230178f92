"""henan's continuing education in a real browser (DESIGN §4 henan): the holder opens 继续教育报名 from 我的证书,
types a wrong certificate number first (refused next to the field), then their own, goes through the
wizard and submits; staff record 8 hours against the number; 我的证书 then shows 8/32 学时."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_person, make_session, upload_photo
from tests.unit.test_document_checks import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HOST = "henan.localhost"


def _issue(person):
    from certificates.services import certificate_issue
    from shared.accounts.models import User
    from shared.celery import app
    from tenant_configs.selectors import rules_current

    app.conf.task_always_eager = True
    try:
        with schema_context("henan"):
            return certificate_issue(
                rules=rules_current(),
                kind_code="qualification",
                holder=person,
                actor=User.objects.get(username="admin"),
            )
    finally:
        app.conf.task_always_eager = False


def _forget(person) -> None:
    from certificates.models import Certificate, ContinuingEducationHours
    from registration.models import Application
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context("henan"):
        certificates = list(Certificate.objects.filter(holder=person))
        ContinuingEducationHours.objects.filter(certificate__in=certificates).delete()
        Application.objects.filter(person=person).update(certificate=None)
        AuditEntry.objects.filter(
            object_type="certificates.certificate", object_id__in=[str(c.pk) for c in certificates]
        ).delete()
        for certificate in certificates:
            if certificate.pdf:
                certificate.pdf.delete(save=False)
            certificate.delete()


def test_holder_enrols_by_certificate_number_staff_record_hours_and_my_certificates_shows_them(
    browser, browser_context_args, live_url
):
    from registration.models import Application
    from shared.accounts.models import User

    connection.set_schema_to_public()
    person = make_person("henan", name="周建国", birth="19820315", education="college")
    upload_photo("henan", person, photo_jpeg())
    session = make_session(
        "henan", "continuing_education", institution_code="zz_jianshe", unit_code="zhengzhou"
    )
    try:
        certificate = _issue(person)
        page = logged_in(browser, browser_context_args, live_url, HOST, person)
        page.goto(live_url(HOST, "/certificates/"))
        row = page.locator(f"tr.certificate-row[data-number='{certificate.number}']")
        expect(row.locator(".ce-progress")).to_have_text("0/32 学时")
        row.locator("a.ce-enrol").click()

        expect(page.locator("#step-title")).to_contain_text("填写证书编号")
        expect(page.locator("#id_certificate_number")).to_have_value(certificate.number)
        page.fill("#id_certificate_number", "HA19990000001")
        page.click("#wizard-next")
        field = page.locator(".field[data-key='certificate_number']")
        expect(field.locator(".error")).to_have_text("证书编号不存在或不是本人的证书")
        with schema_context("henan"):
            assert not Application.objects.filter(person=person, wizard_step="major_post").exists()

        page.fill("#id_certificate_number", certificate.number)
        page.click("#wizard-next")
        expect(page.locator("#step-title")).to_contain_text("选择所属岗位和专业")
        page.select_option("#id_major_post", "standards")
        page.click("#wizard-next")
        page.select_option("#id_city", "zhengzhou")
        page.select_option("#id_institution", "zz_jianshe")
        page.click("#wizard-next")
        page.fill("#id_resume", "2019—2026 郑州建工集团 标准员")
        page.click("#wizard-next")
        expect(page.locator("#step-title")).to_contain_text("确认报名")
        expect(page.locator("table.summary")).to_contain_text(certificate.number)
        page.click("#wizard-submit")
        expect(page.locator("#application-status")).to_have_text("待机构确认")
        with schema_context("henan"):
            assert Application.objects.get(person=person, status="institution_review").certificate_id == (
                certificate.pk
            )

        with schema_context("henan"):
            admin = User.objects.get(username="admin")
        staff = logged_in(browser, browser_context_args, live_url, HOST, admin)
        staff.goto(live_url(HOST, "/certificates/console/"))
        staff.click("#ce-hours-link")
        staff.fill("#ce-number", certificate.number)
        staff.fill("#ce-hours", "0")
        staff.click("#ce-hours-submit")
        expect(staff.locator("#error-hours")).to_have_text("学时须大于 0 且不超过 200")
        staff.fill("#ce-hours", "8")
        staff.fill("#ce-note", "2026年继续教育面授")
        staff.click("#ce-hours-submit")
        expect(staff.locator(".messages li.success")).to_have_text(
            f"已为证书 {certificate.number} 录入 8 学时"
        )
        expect(staff.locator("#ce-certificate .ce-progress")).to_have_text("8/32 学时")

        page.goto(live_url(HOST, "/certificates/"))
        expect(row.locator(".ce-progress")).to_have_text("8/32 学时")
    finally:
        _forget(person)
        cleanup("henan", users=[person], sessions=[session])

"""A person's invoice titles (发票抬头) in a real browser, on the association's own host."""

import random

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from shared.sms import LocmemSmsBackend
from tests.ids import valid_id_number

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Jianli-2026"


@pytest.fixture
def sms(settings):
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    LocmemSmsBackend.reset()
    return LocmemSmsBackend.outbox


def _phone() -> str:
    return f"13{random.randint(3, 9)}{random.randint(0, 99999999):08d}"


def _cleanup(schema: str, phones: list[str]) -> None:
    from shared.accounts.models import InvoiceTitle, PersonProfile, User
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context(schema):
        users = User.objects.filter(phone__in=phones)
        # Committed audit entries would otherwise show up in other tests' counts.
        AuditEntry.objects.filter(actor__in=users).delete()
        InvoiceTitle.objects.filter(owner__in=users).delete()
        PersonProfile.objects.filter(user__in=users).delete()
        users.delete()


def test_sichuan_person_adds_an_invoice_title_and_sees_it_listed(page, live_url, sms):
    from shared.accounts.identity import PersonRegistration, person_register
    from shared.sms import sms_code_send
    from tenant_configs.selectors import rules_current

    phone = _phone()
    id_number = valid_id_number("510104", "19850312", f"{random.randint(100, 999)}")
    title = f"四川浏览器发票{random.randint(1000, 9999)}有限公司"
    connection.set_schema_to_public()
    try:
        with schema_context("sichuan"):
            sms_code_send(phone=phone, purpose="register")
            person_register(
                rules=rules_current(),
                registration=PersonRegistration(
                    name="张伟",
                    id_number=id_number,
                    phone=phone,
                    password=PASSWORD,
                    sms_code=[m for m in sms if m.phone == phone][-1].params["code"],
                ),
            )

        page.goto(live_url("sichuan.localhost", "/login/"))
        page.fill("#id_username", phone)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的资料")

        page.click("#me-links >> text=发票抬头")
        expect(page.locator("h1")).to_have_text("发票抬头")
        expect(page.locator("#invoice-titles")).to_contain_text("暂无数据")
        page.fill("#id_title", title)
        page.fill("#id_tax_number", "91510100ma6c00001x")
        page.fill("#id_email", "fapiao@example.com")
        page.check("#id_is_default")
        page.click("button:has-text('保存')")

        expect(page.locator(".messages")).to_contain_text(f"已保存发票抬头“{title}”")
        row = page.locator("tr.invoice-title", has_text=title)
        expect(row).to_contain_text("91510100MA6C00001X")
        expect(row).to_contain_text("默认")
    finally:
        _cleanup("sichuan", [phone])

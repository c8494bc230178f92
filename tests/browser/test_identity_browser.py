"""The identity steps of DESIGN §4 in a real browser, on the associations' own hosts."""

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


def _uscc() -> str:
    from shared.validation import uscc_check_character

    body = f"915101{random.randint(0, 10**11 - 1):011d}"
    return body + uscc_check_character(body)


def _cleanup(schema: str, phones: list[str], company_names: list[str]) -> None:
    from membership.models import JoinRequest
    from shared.accounts.models import Company, PersonProfile, User

    connection.set_schema_to_public()
    with schema_context(schema):
        users = User.objects.filter(phone__in=phones)
        JoinRequest.objects.filter(person__in=users).delete()
        PersonProfile.objects.filter(user__in=users).delete()
        users.delete()
        for company in Company.objects.filter(name__in=company_names):
            company.operators.all().delete()
            company.delete()


def _fill_sms_code(page, outbox, phone):
    page.click("#send-sms")
    expect(page.locator("#sms-status")).to_contain_text("验证码已发送")
    page.fill("#id_sms_code", [m for m in outbox if m.phone == phone][-1].params["code"])


def test_sichuan_company_and_person_register_and_the_company_approves(browser, live_url, sms):
    company_phone, person_phone = _phone(), _phone()
    company_name = f"四川浏览器测试监理{random.randint(1000, 9999)}有限公司"
    id_number = valid_id_number("510104", "19850312", f"{random.randint(100, 999)}")
    company_page = browser.new_context(locale="zh-CN").new_page()
    person_page = browser.new_context(locale="zh-CN").new_page()
    try:
        # The company registers with its legal representative's phone and an SMS code.
        company_page.goto(live_url("sichuan.localhost", "/login/"))
        company_page.click("text=企业注册")
        company_page.fill("#id_name", company_name)
        company_page.fill("#id_uscc", _uscc())
        company_page.fill("#id_contact_name", "李经办")
        company_page.fill("#id_phone", company_phone)
        _fill_sms_code(company_page, sms, company_phone)
        company_page.fill("#id_password", PASSWORD)
        company_page.fill("#id_password_again", PASSWORD)
        company_page.click("button:has-text('注册')")
        expect(company_page.locator("h1")).to_contain_text("成员管理")

        # A person registers by phone + SMS code; a bad ID number is refused first.
        person_page.goto(live_url("sichuan.localhost", "/register/"))
        person_page.fill("#id_name", "张伟")
        person_page.fill("#id_id_number", id_number[:-1] + ("0" if id_number[-1] != "0" else "1"))
        person_page.fill("#id_phone", person_phone)
        _fill_sms_code(person_page, sms, person_phone)
        person_page.fill("#id_password", PASSWORD)
        person_page.fill("#id_password_again", PASSWORD)
        person_page.click("button:has-text('注册')")
        expect(person_page.locator(".errorlist")).to_contain_text("校验位错误")
        person_page.fill("#id_id_number", id_number)
        person_page.fill("#id_password", PASSWORD)
        person_page.fill("#id_password_again", PASSWORD)
        person_page.click("button:has-text('注册')")
        expect(person_page.locator("h1")).to_have_text("我的资料")

        # ... searches the company and asks to join.
        person_page.click("text=我的单位")
        person_page.fill("#q", company_name[2:8])
        person_page.click("button:has-text('搜索企业')")
        person_page.click("button:has-text('申请加入')")
        expect(person_page.locator(".join-status").first).to_have_text("待审核")

        # The company sees the request with the ID masked and approves it.
        company_page.reload()
        row = company_page.locator("tr.pending-request", has_text="张伟")
        expect(row).to_contain_text(id_number[:6] + "********")
        row.locator("button:has-text('同意')").click()
        expect(company_page.locator("tr.member", has_text="张伟")).to_be_visible()

        person_page.reload()
        expect(person_page.locator("#current-company")).to_have_text(company_name)
    finally:
        _cleanup("sichuan", [company_phone, person_phone], [company_name])


def test_gansu_person_waits_for_the_company_before_logging_in(page, live_url):
    from membership.services import join_request_approve, join_request_create
    from shared.accounts.identity import PersonRegistration, company_issue, person_register
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    phone = _phone()
    company_name = f"甘肃浏览器测试{random.randint(1000, 9999)}公司"
    id_number = valid_id_number("620102", "19800101", f"{random.randint(100, 999)}")
    connection.set_schema_to_public()
    with schema_context("gansu"):
        company, issued = company_issue(
            rules=rules_current(), name=company_name, actor=User.objects.get(username="admin")
        )
    try:
        # The association issued the company account; its operator activates it through the link.
        page.goto(live_url("gansu.localhost", f"/invite/{issued.token}/"))
        page.fill("#id_username", f"op{random.randint(10**5, 10**6)}")
        page.fill("#id_password", "Lanzhou-Jianli-1")
        page.fill("#id_password_again", "Lanzhou-Jianli-1")
        page.click("button:has-text('创建账户')")
        page.context.clear_cookies()
        with schema_context("gansu"):
            operator = User.objects.get(company=company)
            person = person_register(
                rules=rules_current(),
                registration=PersonRegistration(
                    name="马丽", id_number=id_number, phone=phone, password=PASSWORD
                ),
            )
            request = join_request_create(person=person, company=company)

        page.goto(live_url("gansu.localhost", "/login/"))
        page.fill("#id_username", id_number)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator(".errorlist")).to_contain_text("需经本单位审核通过后才能登录")

        with schema_context("gansu"):
            join_request_approve(request_id=request.pk, company=company, actor=operator)
        page.fill("#id_username", id_number)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#my-company-name")).to_have_text(company_name)
    finally:
        _cleanup("gansu", [phone], [company_name])


def test_shanghai_company_logs_in_with_its_uscc(page, live_url):
    page.goto(live_url("shanghai.localhost", "/login/"))
    page.fill("#id_username", "91310000MA1FL0NQ5U")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")

    expect(page.locator(".errorlist")).to_be_visible()
    expect(page.locator("text=企业注册")).to_be_visible()  # shanghai companies register themselves

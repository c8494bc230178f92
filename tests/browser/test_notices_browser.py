"""Notices in a real browser on gansu (DESIGN §4: "association posts notices to companies and members"):
staff publish a notice to companies in the console; a company operator sees it on the home page and opens
it; a person who is not a member does not see it; the console's read count becomes 1."""

import random
import re

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_company, make_person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GANSU = "gansu.localhost"


def test_gansu_staff_publish_a_notice_to_companies_and_an_operator_reads_it(
    browser, browser_context_args, live_url
):
    from shared.accounts.models import User
    from shared.models import AuditEntry
    from shared.notices.models import Notice

    connection.set_schema_to_public()
    title = f"关于做好{random.randint(1000, 9999)}年度会员推荐工作的通知"
    company, operator = make_company("gansu", "兰州浏览器监理")
    person = make_person("gansu", name="浏览器个人")
    with schema_context("gansu"):
        staff = User.objects.get(username="admin")
    try:
        console = logged_in(browser, browser_context_args, live_url, GANSU, staff)
        console.goto(live_url(GANSU, "/console/notices/"))
        console.click("#notice-new")
        console.fill("#id_title", title)
        console.fill("#id_body", "各会员单位：\n\n请于月底前完成推荐。<b>不是 HTML</b>")
        console.check("input[name=audience][value=companies]")
        console.click("#notice-publish")
        expect(console.locator(".messages")).to_contain_text("通知已发布")
        row = console.locator(".notice-row", has_text=title)
        expect(row.locator(".notice-status")).to_have_text("已发布")
        expect(row.locator(".read-count")).to_have_text(re.compile(r"^0 / \d+$"))

        reader = logged_in(browser, browser_context_args, live_url, GANSU, operator)
        reader.goto(live_url(GANSU, "/"))
        item = reader.locator("#home-notices .home-notice", has_text=title)
        expect(item).to_contain_text("未读")
        item.locator("a").click()
        expect(reader.locator("#notice-title")).to_have_text(title)
        expect(reader.locator("#notice-body p")).to_have_count(2)
        expect(reader.locator("#notice-body")).to_contain_text("<b>不是 HTML</b>")
        reader.goto(live_url(GANSU, "/"))
        expect(reader.locator("#home-notices .home-notice", has_text=title)).not_to_contain_text("未读")

        outsider = logged_in(browser, browser_context_args, live_url, GANSU, person)
        outsider.goto(live_url(GANSU, "/"))
        expect(outsider.locator("#home-notices")).to_be_visible()
        expect(outsider.locator("#home-notices")).not_to_contain_text(title)

        console.reload()
        expect(console.locator(".notice-row", has_text=title).locator(".read-count")).to_have_text(
            re.compile(r"^1 / \d+$")
        )
    finally:
        connection.set_schema_to_public()
        with schema_context("gansu"):
            ids = [str(pk) for pk in Notice.objects.filter(title=title).values_list("pk", flat=True)]
            AuditEntry.objects.filter(object_type="notices.notice", object_id__in=ids).delete()
            Notice.objects.filter(title=title).delete()
        cleanup("gansu", users=[operator, person], companies=[company])

"""The user's paths in a real browser (Debian's chromium) against the live server on tenant hosts."""

import re
import uuid

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_each_association_shows_its_own_name(page, live_url):
    from tenants.models import Association

    connection.set_schema_to_public()
    names = {slug: Association.objects.get(slug=slug).name for slug in ("sichuan", "gansu")}

    page.goto(live_url("sichuan.localhost"))
    expect(page.locator("h1")).to_have_text(names["sichuan"])
    page.goto(live_url("gansu.localhost"))
    expect(page.locator("h1")).to_have_text(names["gansu"])
    assert names["sichuan"] != names["gansu"]


def test_unknown_host_shows_the_not_found_page(page, live_url):
    response = page.goto(live_url("nowhere.localhost"))

    assert response.status == 404
    expect(page.locator("h1")).to_have_text("未找到该站点")


def test_operator_onboards_an_association_whose_admin_then_edits_its_rules(page, live_url):
    from tenants.models import Association

    slug = f"b{uuid.uuid4().hex[:8]}"
    external_requests = []
    page.on(
        "request",
        lambda request: (
            None
            if re.match(r"^(http://[a-z0-9.]*localhost:\d+/|data:)", request.url)
            else external_requests.append(request.url)
        ),
    )
    try:
        # The operator signs in on the platform host and onboards by cloning gansu's rules.
        page.goto(live_url("localhost", "/login/"))
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("协会总览")
        page.click("text=开通新协会")
        page.select_option("#id_clone_from", "gansu")
        page.fill("#id_slug", slug)
        page.fill("#id_name", "浏览器测试协会")
        page.fill("#id_admin_name", "李娜")
        page.click("button:has-text('开通')")
        expect(page.locator("h1")).to_have_text("已开通：浏览器测试协会")
        invite_url = page.locator("#invite-url").inner_text().strip()
        assert invite_url.startswith(f"http://{slug}.localhost:")

        # The invited admin sets a password on the new association's own host.
        page.goto(invite_url)
        page.fill("#id_username", "lina")
        page.fill("#id_password", "Lanzhou-2026")
        page.fill("#id_password_again", "Lanzhou-2026")
        page.click("button:has-text('创建账户')")
        expect(page.locator("h1")).to_have_text("工作台")

        # ... and changes the site title: validate, see the diff, publish version 2.
        page.click("nav >> text=规则配置")
        page.click("text=站点外观")
        page.fill("#id_toml", '[branding]\nsite_title = "浏览器测试培训平台"\nprimary_color = "#8a1c1c"\n')
        page.click("button:has-text('校验并查看差异')")
        expect(page.locator("table.diff")).to_contain_text("branding.site_title")
        page.click("button:has-text('确认发布新版本')")
        expect(page.locator(".messages")).to_contain_text("已发布规则第 2 版")
        page.goto(live_url(f"{slug}.localhost"))
        expect(page.locator("header .title")).to_have_text("浏览器测试培训平台")

        # A typo is refused with its key path, and nothing is published.
        page.goto(live_url(f"{slug}.localhost", "/console/rules/branding/"))
        page.fill("#id_toml", '[branding]\nsite_titel = "x"\n')
        page.click("button:has-text('校验并查看差异')")
        expect(page.locator(".problems")).to_contain_text("branding.site_titel")

        # The operator suspends it; the association's site says so.
        page.goto(live_url("localhost", f"/tenants/{slug}/"))
        page.click("button:has-text('暂停服务')")
        response = page.goto(live_url(f"{slug}.localhost"))
        assert response.status == 503
        expect(page.locator("h1")).to_have_text("浏览器测试协会")
        assert external_requests == []
    finally:
        connection.set_schema_to_public()
        tenant = Association.objects.filter(slug=slug).first()
        if tenant is not None:
            tenant.delete(force_drop=True)


def test_api_docs_page_renders_without_any_outside_request(page, live_url):
    outside = []
    page.on(
        "request",
        lambda r: None if "localhost:" in r.url or r.url.startswith("data:") else outside.append(r.url),
    )

    page.goto(live_url("sichuan.localhost", "/api/docs/"))

    expect(page.locator(".swagger-ui")).to_be_visible()
    expect(page.locator("text=/api/v1/association/").first).to_be_visible()
    assert outside == []

"""gansu's membership flow (DESIGN §4) end to end in a real browser on gansu's subdomain: the person applies
with an ID-number account and a ≤150 KB photo → the company recommends in bulk → confirms electronically
(PDF with the content hash, no stamping) → the association approves → the company pays 200 元 × 5 年 by
transfer, finance confirms → 正式会员 → the period ends (beat task) → 已过期 → the company recommends the
renewal → approved → paid → 正式会员 again."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_company, make_person
from tests.browser.test_payment_browser import _certificates_cleanup, _confirm_transfer
from tests.unit.test_document_checks import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "gansu.localhost"


def _admin():
    from shared.accounts.models import User

    with schema_context("gansu"):
        return User.objects.get(username="admin")


def _membership_cleanup(*, company, users) -> None:
    _certificates_cleanup("gansu", holders=users)  # the 个人会员证 of each paid period
    from billing.models import Invoice, LedgerEntry, Order, OrderItem, Payment
    from membership.models import Membership, RecommendationBatch
    from shared.documents.models import Document
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context("gansu"):
        memberships = Membership.objects.filter(person__in=[user.pk for user in users])
        orders = Order.objects.filter(payer_company=company)
        audited = Q(
            object_type="membership.membership",
            object_id__in=[str(pk) for pk in memberships.values_list("pk", flat=True)],
        )
        audited |= Q(
            object_type="billing.order", object_id__in=[str(pk) for pk in orders.values_list("pk", flat=True)]
        )
        audited |= Q(
            object_type="billing.payment",
            object_id__in=[
                str(pk) for pk in Payment.objects.filter(order__in=orders).values_list("pk", flat=True)
            ],
        )
        AuditEntry.objects.filter(audited).delete()
        LedgerEntry.objects.filter(order__in=orders).delete()
        Invoice.objects.filter(order__in=orders).delete()
        Payment.objects.filter(order__in=orders).delete()
        Document.objects.filter(owner__company=company).delete()  # the transfer proofs
        OrderItem.objects.filter(order__in=orders).delete()
        orders.delete()
        for membership in memberships:
            membership.reminders.all().delete()
            membership.events.all().delete()
            membership.fees.all().delete()
        memberships.delete()
        RecommendationBatch.objects.filter(company=company).delete()
    cleanup("gansu", users=users, companies=[company])


def _recommend_confirm_and_approve(
    browser, browser_context_args, live_url, company_page, name, *, tab, button
):
    company_page.goto(live_url(HOST, f"/company/membership/?tab={tab}"))
    row = company_page.locator(".membership-row", has_text=name)
    row.locator("input[name=membership_ids]").check()
    company_page.click(button)
    expect(company_page.locator(".messages")).to_contain_text("已推荐 1 人")
    expect(company_page.locator("#unconfirmed")).to_have_text("1")
    company_page.click("#confirm")
    expect(company_page.locator(".messages")).to_contain_text("已电子确认推荐")
    batch = company_page.locator(".batch-row").first
    expect(batch).to_contain_text("1")
    printed = company_page.evaluate(
        """async (url) => {
            const response = await fetch(url);
            const head = new Uint8Array(await response.arrayBuffer()).slice(0, 4);
            return [response.status, response.headers.get("content-type"), String.fromCharCode(...head)];
        }""",
        batch.locator("a.batch-pdf").get_attribute("href"),
    )
    assert printed == [200, "application/pdf", "%PDF"]

    staff = logged_in(browser, browser_context_args, live_url, HOST, _admin())
    staff.goto(
        live_url(
            HOST,
            "/console/membership/?tab="
            + ("recommended_renewal" if "renewal" in button else "recommended_new"),
        )
    )
    staff_row = staff.locator(".membership-row", has_text=name)
    expect(staff_row).to_contain_text("TJ")  # the confirmed batch number
    staff_row.locator("input[name=membership_ids]").check()
    staff.click("#approve")
    expect(staff.locator(".messages")).to_contain_text("已通过 1 人")
    staff.context.close()


def _pay_fee(browser, browser_context_args, live_url, company_page, name, kind: str) -> None:
    from billing.models import Order

    company_page.goto(live_url(HOST, "/billing/pay/"))
    fee_row = company_page.locator(".payable-fee", has_text=name)
    expect(fee_row).to_contain_text(kind)
    expect(fee_row.locator(".fee")).to_have_text("1,000.00")
    fee_row.locator("input[name=fee_ids]").check()
    company_page.click("button[value=preview]")
    expect(company_page.locator("#preview-total")).to_have_text("1,000.00")
    company_page.click("#confirm")
    expect(company_page.locator(".messages")).to_contain_text("已生成 1 个订单")
    with schema_context("gansu"):
        order = Order.objects.filter(
            items__membership_fee__membership__answers__name=name, status="open"
        ).get()
    company_page.goto(live_url(HOST, f"/billing/orders/{order.pk}/"))
    expect(company_page.locator("#reference")).to_have_text(order.reference)
    company_page.set_input_files(
        "#proof", files=[{"name": "电汇凭证.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}]
    )
    company_page.click("#proof-form button[type=submit]")
    expect(company_page.locator(".messages")).to_contain_text("汇款凭证已上传")
    _confirm_transfer(browser, browser_context_args, live_url, HOST, order.reference, "1,000.00")


def test_gansu_membership_from_application_to_renewal(browser, browser_context_args, live_url):
    from certificates.models import Certificate
    from membership.models import Membership
    from membership.tasks import membership_housekeeping_current_tenant

    company, operator = make_company("gansu", "甘肃华成监理有限公司")
    person = make_person("gansu", name="马志远", company=company, birth="19850601")
    try:
        # The person applies: the ID number, gender and birth date come from the account.
        page = logged_in(browser, browser_context_args, live_url, HOST, person)
        page.goto(live_url(HOST, "/membership/"))
        expect(page.locator("#eligibility")).to_contain_text("年龄60岁以下")
        page.fill("#f-name", "马志远")
        page.fill("#f-education", "本科")
        page.fill("#f-professional_title", "工程师")
        page.fill("#f-phone", "139-1234-5678")
        page.fill("#f-address", "兰州市城关区东岗西路 1 号")
        page.click("#apply-submit")
        expect(page.locator("#apply-error")).to_contain_text("请上传证件照")  # the photo is required
        page.set_input_files(
            "#photo", files=[{"name": "照片.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}]
        )
        page.click("#apply-submit")
        expect(page.locator(".messages")).to_contain_text("入会申请已提交")
        expect(page.locator("#status")).to_have_text("个人提交")
        expect(page.locator("#apply-form")).to_have_count(0)  # locked once submitted

        company_page = logged_in(browser, browser_context_args, live_url, HOST, operator)
        _recommend_confirm_and_approve(
            browser,
            browser_context_args,
            live_url,
            company_page,
            "马志远",
            tab="applied",
            button="#recommend",
        )
        page.reload()
        expect(page.locator("#status")).to_have_text("待缴费")

        _pay_fee(browser, browser_context_args, live_url, company_page, "马志远", "新会员")
        page.reload()
        expect(page.locator("#status")).to_have_text("正式会员")
        expect(page.locator("#period")).to_be_visible()

        with schema_context("gansu"):  # the paid period issued the 个人会员证, valid to its end
            assert Certificate.objects.filter(holder=person, kind="membership").count() == 1
        # The period ends; the beat's task expires it.
        with schema_context("gansu"):
            Membership.objects.filter(person=person).update(ends_on=timezone.localdate() - timedelta(days=1))
            assert membership_housekeeping_current_tenant.run() == {"expired": 1, "reminded": 0}
        page.reload()
        expect(page.locator("#status")).to_have_text("已过期")

        _recommend_confirm_and_approve(
            browser,
            browser_context_args,
            live_url,
            company_page,
            "马志远",
            tab="expired",
            button="#recommend-renewal",
        )
        _pay_fee(browser, browser_context_args, live_url, company_page, "马志远", "续期")
        page.reload()
        expect(page.locator("#status")).to_have_text("正式会员")
        expect(page.locator("#fees tr")).to_have_count(3)  # header + two paid periods
        company_page.goto(live_url(HOST, "/company/membership/?tab=active"))
        expect(company_page.locator(".membership-row", has_text="马志远")).to_be_visible()
        page.context.close()
        company_page.context.close()
    finally:
        _membership_cleanup(company=company, users=[person])

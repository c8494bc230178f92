"""The payment parts of the seed flows (DESIGN §4) in a real browser on each tenant's subdomain: sichuan (a
company pays for 15 approved people: the preview splits them into 3 orders under the 10,000 元 cap; one order
is paid by transfer with a proof and confirmed by finance, one is switched to WeChat and paid on the gateway
simulator, one is cancelled) and shanghai (transfer with the proof its rules require, confirmed by the
association's finance)."""

import random

import pytest
from django.db import connection
from django.db.models import Q
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import (
    cleanup,
    logged_in,
    make_company,
    make_person,
    make_session,
    upload_photo,
)
from tests.unit.test_document_checks import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _enrolment_rules(program_code: str):
    """The tenant's published rules, with `program_code` enrolled by the company without review, form,
    documents or application-stage pledges, so the applications are approved at once (the site itself keeps
    running on the published rules, whose payment pledges and prices apply)."""
    from tenant_configs.loader import load_rules_data, rules_to_data
    from tenant_configs.selectors import rules_current

    data = rules_to_data(rules_current())
    program = next(item for item in data["programs"] if item["code"] == program_code)
    program.update(channel="both", review_chain=[], company_may_edit=False, fields=[], documents=[])
    program["pledges"] = [pledge for pledge in program.get("pledges", []) if pledge["stage"] == "payment"]
    return load_rules_data(data, source="payment browser test")


def _approved(schema: str, session, operator, persons, *, with_materials=None, answers=None, rules=None):
    from registration import rules as engine
    from registration.services import application_enrol_bulk
    from tenant_configs.selectors import rules_current, rules_current_version

    with schema_context(schema):
        results = application_enrol_bulk(
            rules=rules or rules_current(),
            rules_version=rules_current_version().number,
            session_id=session.pk,
            person_ids=[person.pk for person in persons],
            actor=operator,
            submission=engine.Submission(
                answers=answers or {}, documents=frozenset(), pledges={}, with_materials=with_materials
            ),
        )
        assert all(result.application for result in results), results
        assert {result.application.status for result in results} == {"approved"}
        return [result.application for result in results]


def _finance_user(schema: str):
    from shared.accounts.models import User

    with schema_context(schema):
        return User.objects.get(username="finance")


def _billing_cleanup(schema: str, *, company=None, person=None, users=(), sessions=()) -> None:
    """The billing rows of `company` or `person` (orders, payments, ledger, invoices, refunds, gateway inbox,
    audit), the company's saved invoice titles, then everything the registration helpers' cleanup removes."""
    from billing.models import Invoice, LedgerEntry, NotifyEvent, Order, OrderItem, Payment, Refund
    from billing.providers.simulator import simulator_transaction_id
    from shared.accounts.models import InvoiceTitle
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context(schema):
        orders = (
            Order.objects.filter(payer_company=company)
            if company
            else Order.objects.filter(payer_person=person)
        )
        payments = Payment.objects.filter(order__in=orders)
        out_trade_nos = list(payments.values_list("out_trade_no", flat=True))
        audited = Q(
            object_type="billing.order", object_id__in=[str(pk) for pk in orders.values_list("pk", flat=True)]
        )
        audited |= Q(
            object_type="billing.payment",
            object_id__in=[str(pk) for pk in payments.values_list("pk", flat=True)],
        )
        AuditEntry.objects.filter(audited).delete()
        NotifyEvent.objects.filter(
            event_key__in=[f"pay:{simulator_transaction_id(number)}" for number in out_trade_nos]
        ).delete()
        refund_numbers = list(
            Refund.objects.filter(payment__in=payments).values_list("out_refund_no", flat=True)
        )
        NotifyEvent.objects.filter(event_key__in=[f"refund:{number}" for number in refund_numbers]).delete()
        LedgerEntry.objects.filter(order__in=orders).delete()
        Refund.objects.filter(payment__in=payments).delete()
        Invoice.objects.filter(order__in=orders).delete()
        payments.delete()
        OrderItem.objects.filter(order__in=orders).delete()
        orders.delete()
        if company:
            InvoiceTitle.objects.filter(company=company).delete()
    cleanup(schema, users=users, sessions=sessions, companies=[company] if company else [])


def _certificates_cleanup(schema: str, *, holders) -> None:
    """Certificates issued to `holders` by the flow (their audit entries, stored PDFs and rows)."""
    from certificates.models import Certificate
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context(schema):
        certificates = Certificate.objects.filter(holder__in=[holder.pk for holder in holders])
        AuditEntry.objects.filter(
            object_type="certificates.certificate",
            object_id__in=[str(pk) for pk in certificates.values_list("pk", flat=True)],
        ).delete()
        for certificate in certificates:
            if certificate.pdf:
                certificate.pdf.delete(save=False)
        certificates.delete()


def _confirm_transfer(
    browser, browser_context_args, live_url, host: str, reference: str, expected: str
) -> None:
    """Finance (the tenant's "finance" staff) confirms the full amount of the transfer with `reference`."""
    finance = logged_in(browser, browser_context_args, live_url, host, _finance_user(host.split(".")[0]))
    finance.goto(live_url(host, "/billing/finance/transfers/"))
    row = finance.locator(".transfer-row", has_text=reference)
    expect(row.locator(".expected")).to_have_text(expected)
    expect(row.locator("text=查看凭证")).to_be_visible()
    expect(row.locator("input[name=received]")).to_have_value(expected.replace(",", ""))
    row.locator("button:has-text('确认到账')").click()
    expect(finance.locator(".messages")).to_contain_text("已确认到账")
    expect(finance.locator(".transfer-row", has_text=reference)).to_have_count(0)
    finance.context.close()


def test_sichuan_company_pays_fifteen_people_by_transfer_wechat_and_cancels_one_order(
    browser, browser_context_args, live_url
):
    from billing.models import Order
    from registration.models import Application
    from shared.accounts.models import InvoiceTitle

    host = "sichuan.localhost"
    connection.set_schema_to_public()
    company, operator = make_company("sichuan", "成都浏览器缴费监理")
    persons = [
        make_person(
            "sichuan", name=f"缴费{number:02d}号", company=company, birth=f"1990{1 + number % 12:02d}15"
        )
        for number in range(15)
    ]
    session = make_session("sichuan", "jianli_2022", unit_code="jianli", name="浏览器缴费期")
    try:
        with schema_context("sichuan"):
            rules = _enrolment_rules("jianli_2022")
            title = InvoiceTitle.objects.create(
                company=company, title=company.name, tax_number="91510100MA6BROWSER", is_default=True
            )
        applications = _approved(
            "sichuan", session, operator, persons[:12], with_materials=True, rules=rules
        ) + _approved("sichuan", session, operator, persons[12:], with_materials=False, rules=rules)
        assert sorted({application.fee_fen for application in applications}) == [80000, 92000]

        page = logged_in(browser, browser_context_args, live_url, host, operator)
        page.goto(live_url(host, "/billing/pay/"))
        expect(page.locator(".payable-row")).to_have_count(15)
        page.check("#payable input[aria-label='全选']")
        expect(page.locator("#payable input[name=application_ids]:checked")).to_have_count(15)
        page.select_option("#channel", "offline_transfer")
        expect(page.locator("#invoice-type option[value=special_vat]")).to_have_count(
            1
        )  # htmx: transfer's types
        page.select_option("#invoice-type", "electronic_normal")
        expect(page.locator("#invoice-title")).to_have_value(str(title.pk))
        page.fill("#receipt-email", "caiwu@example.com")
        expect(page.locator("#pledges")).to_contain_text("《委托培训协议》")
        expect(page.locator("#pledges")).to_contain_text("《企业承诺书》")
        page.check("input[name=pledge_training_agreement]")
        page.check("input[name=pledge_company_pledge]")
        page.click("button[name=action][value=preview]:visible")

        expect(page.locator("#preview-orders .proposed-order")).to_have_count(3)
        expect(page.locator("#preview-orders .total")).to_have_text(["9,200.00", "1,840.00", "2,400.00"])
        expect(page.locator("#preview-orders .count")).to_have_text(["10", "2", "3"])
        expect(page.locator("#preview-notes")).to_contain_text(
            "单次缴费（一张发票）金额不超过 10,000.00 元，已分为 3 笔"
        )
        expect(page.locator("#preview-notes")).to_contain_text("含培训资料与不含培训资料的人员分开缴费")
        expect(page.locator("#preview-total")).to_have_text("13,440.00")
        # The choices survive the preview (checked people, channel, pledges).
        expect(page.locator("#payable input[name=application_ids]:checked")).to_have_count(15)
        page.click("#confirm")
        expect(page.locator(".messages")).to_contain_text("已生成 3 个订单，合计 13,440.00 元")
        with schema_context("sichuan"):
            first, second, third = Order.objects.filter(payer_company=company).order_by("pk")
            assert [order.total_fen for order in (first, second, third)] == [920000, 184000, 240000]
        expect(page.locator(".order-row")).to_have_count(3)
        for order in (first, second, third):
            expect(page.locator(f"#order-{order.pk} .status")).to_have_text("待支付")

        # 1. Offline transfer: bank account and reference on the order, a proof uploaded, finance confirms.
        page.locator(f"#order-{first.pk} a:has-text('继续支付')").click()
        expect(page.locator("h1")).to_have_text(f"订单 {first.number}")
        expect(page.locator("#order-total")).to_have_text("9,200.00")
        expect(page.locator("#bank-account-name")).to_have_text("四川省建设工程质量安全与监理协会")
        expect(page.locator("#bank-name")).to_have_text("中国建设银行成都城北支行")
        expect(page.locator("#account-number")).to_have_text("51001234567890123456")
        expect(page.locator("#reference")).to_have_text(first.reference)
        assert first.reference.startswith("SC")
        page.set_input_files(
            "#proof", files=[{"name": "汇款凭证.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}]
        )
        page.click("#proof-form button[type=submit]")
        expect(page.locator(".messages")).to_contain_text("汇款凭证已上传，等待协会财务确认到账")
        expect(page.locator("#proof-status")).to_be_visible()
        expect(page.locator("#order-status")).to_have_text("待支付")

        _confirm_transfer(browser, browser_context_args, live_url, host, first.reference, "9,200.00")
        page.reload()
        expect(page.locator("#order-status")).to_have_text("已支付")
        expect(page.locator("#transfer")).to_have_count(0)
        expect(page.locator("#cancel-form")).to_have_count(0)

        # 2. Change of channel to WeChat: the gateway simulator's page, 模拟支付成功, the order is paid.
        page.goto(live_url(host, "/billing/orders/"))
        page.locator(f"#order-{second.pk} a:has-text('继续支付')").click()
        expect(page.locator("#order-total")).to_have_text("1,840.00")
        page.select_option("#new-channel", "wechat_native")
        page.click("#change-channel button[type=submit]")
        expect(page.locator("#online h2")).to_have_text("微信扫码支付")
        page.click("#pay-link")
        expect(page.locator("[data-testid=payment-simulator]")).to_contain_text("支付模拟器")
        expect(page.locator("[data-testid=payment-simulator] h1")).to_contain_text("1840.00")
        page.click("button:has-text('模拟支付成功')")
        expect(page.locator("h1")).to_have_text(f"订单 {second.number}")  # back on the order's page
        expect(page.locator("#order-status")).to_have_text("已支付")

        # 3. Cancelled: its people can be paid for again.
        page.goto(live_url(host, "/billing/orders/"))
        page.locator(f"#order-{third.pk} a:has-text('继续支付')").click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#cancel-form button")
        expect(page.locator(".messages")).to_contain_text(f"订单 {third.number} 已取消")
        expect(page.locator(f"#order-{third.pk} .status")).to_have_text("已取消")
        expect(page.locator(f"#order-{first.pk} .status")).to_have_text("已支付")
        expect(page.locator(f"#order-{second.pk} .status")).to_have_text("已支付")
        page.locator(f"#order-{third.pk} a:has-text('详情')").click()
        expect(page.locator("#order-status")).to_have_text("已取消")
        page.goto(live_url(host, "/billing/pay/"))
        expect(page.locator(".payable-row")).to_have_count(3)

        with schema_context("sichuan"):
            statuses = dict(
                Order.objects.filter(payer_company=company).values_list("pk", "status").order_by("pk")
            )
            assert statuses == {first.pk: "paid", second.pk: "paid", third.pk: "cancelled"}
            paid = Application.objects.filter(pk__in=[a.pk for a in applications], status="paid").count()
            assert paid == 12
            channels = list(second.payments.order_by("pk").values_list("channel", "status"))
            assert channels[-1] == ("wechat_native", "confirmed")
    finally:
        _billing_cleanup("sichuan", company=company, users=[*persons, operator], sessions=[session])


def test_shanghai_company_pays_by_transfer_with_the_required_proof_and_the_association_confirms(
    browser, browser_context_args, live_url
):
    from billing.models import Order
    from registration.models import Application

    host = "shanghai.localhost"
    connection.set_schema_to_public()
    company, operator = make_company("shanghai", "上海浏览器缴费设计院")
    persons = [
        make_person("shanghai", name=name, company=company, birth=birth)
        for name, birth in (("周杰", "19850303"), ("吴磊", "19860404"))
    ]
    for person in persons:
        upload_photo("shanghai", person, photo_jpeg())
    session = make_session("shanghai", "zhuanxiang", name=f"专项培训缴费浏览器班{random.randint(100, 999)}")
    try:
        applications = _approved(
            "shanghai", session, operator, persons, answers={"shipping_address": "上海市静安区南京西路 1 号"}
        )
        page = logged_in(browser, browser_context_args, live_url, host, operator)
        page.goto(live_url(host, "/billing/pay/"))
        expect(page.locator(".payable-row")).to_have_count(2)
        expect(page.locator("#channel option")).to_have_text(["线下汇款"])
        page.check("#payable input[aria-label='全选']")
        page.click("button[name=action][value=preview]:visible")
        expect(page.locator("#preview-orders .proposed-order")).to_have_count(1)
        expect(page.locator("#preview-total")).to_have_text("3,000.00")
        page.click("#confirm")
        expect(page.locator(".messages")).to_contain_text("已生成 1 个订单，合计 3,000.00 元")
        with schema_context("shanghai"):
            order = Order.objects.get(payer_company=company)
        page.locator(f"#order-{order.pk} a:has-text('继续支付')").click()
        expect(page.locator("#bank-account-name")).to_have_text("上海市勘察设计行业协会")
        expect(page.locator("#account-number")).to_have_text("1001234567890123456")
        expect(page.locator("#reference")).to_have_text(order.reference)
        expect(page.locator("label[for=proof]")).to_contain_text("（必传）")
        page.set_input_files(
            "#proof", files=[{"name": "缴费凭证.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}]
        )
        page.click("#proof-form button[type=submit]")
        expect(page.locator(".messages")).to_contain_text("汇款凭证已上传")

        _confirm_transfer(browser, browser_context_args, live_url, host, order.reference, "3,000.00")
        page.reload()
        expect(page.locator("#order-status")).to_have_text("已支付")
        page.goto(live_url(host, "/billing/orders/"))
        expect(page.locator(f"#order-{order.pk} .status")).to_have_text("已支付")
        with schema_context("shanghai"):
            statuses = set(
                Application.objects.filter(pk__in=[a.pk for a in applications]).values_list(
                    "status", flat=True
                )
            )
            assert statuses == {"paid"}
        # The association's confirmation issues each person's 听课证; the company downloads them.
        page.goto(live_url(host, "/certificates/"))
        rows = page.locator(".certificate-row", has_text="听课证")
        expect(rows).to_have_count(len(applications))
        expect(rows.first.locator(".status")).to_have_text("有效")
        assert rows.first.get_attribute("data-number").startswith("SHTK")
        printed = page.evaluate(
            """async (url) => {
                const response = await fetch(url);
                const head = new Uint8Array(await response.arrayBuffer()).slice(0, 4);
                return [response.status, response.headers.get("content-type"), String.fromCharCode(...head)];
            }""",
            rows.first.locator("a.download").get_attribute("href"),
        )
        assert printed == [200, "application/pdf", "%PDF"]
    finally:
        _certificates_cleanup("shanghai", holders=persons)
        _billing_cleanup("shanghai", company=company, users=[*persons, operator], sessions=[session])


def test_miniapp_student_pays_by_jsapi_asks_for_a_refund_and_finance_refunds(
    browser, browser_context_args, live_url, celery_worker_thread
):
    """miniapp: the mini-program pays through its API (WeChat JSAPI on the gateway simulator, signed notify);
    paid but not attended, the student asks for the refund with a reason on the order page; finance (another
    person) approves; the refund goes to the gateway in a task and the order page shows 已退款."""
    from rest_framework.authtoken.models import Token

    from billing.models import Order
    from registration.models import Application
    from tests.conftest import host_client

    host = "miniapp.localhost"
    session = make_session("miniapp", "jianli_yewu", name="2026年退款测试期", fee_fen=98000)
    student = make_person("miniapp", name="刘洋")
    try:
        with schema_context("miniapp"):
            application = Application.objects.create(
                session=session,
                program=session.program,
                enrolment_key=f"{session.program.code}:{session.code}",
                person=student,
                channel="self",
                status="approved",
                holds_seat=True,
                fee_fen=98000,
                rules_version=1,
                review_chain=["association"],
            )
            token = Token.objects.create(user=student).key
        api = host_client(host)
        auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
        [order] = api.post(
            "/api/v1/orders/",
            {"application_ids": [application.pk], "channel": "wechat_jsapi"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"refund-{session.code}",
            **auth,
        ).json()
        started = api.post(
            f"/api/v1/orders/{order['id']}/pay/",
            {"channel": "wechat_jsapi"},
            content_type="application/json",
            **auth,
        ).json()
        assert started["jsapi_params"]["paySign"]
        # wx.requestPayment on the phone: the simulator's 'pay' sends WeChat's signed notify.
        assert api.post(f"/pay/simulator/{started['out_trade_no']}/", {"outcome": "pay"}).status_code == 302

        page = logged_in(browser, browser_context_args, live_url, host, student)
        page.goto(live_url(host, f"/billing/orders/{order['id']}/"))
        expect(page.locator("#order-status")).to_have_text("已支付")
        page.click("#refund-link")
        page.click("text=工作安排冲突，无法参加培训")
        page.fill("#refund-note", "单位临时安排出差")
        page.click("#refund-form button[type=submit]")
        expect(page.locator("#refund-status")).to_have_text("退款审核中")

        finance = logged_in(browser, browser_context_args, live_url, host, _finance_user("miniapp"))
        finance.goto(live_url(host, "/billing/finance/refunds/"))
        row = finance.locator(".refund-row", has_text=order["number"])
        expect(row).to_contain_text("工作安排冲突，无法参加培训：单位临时安排出差")
        row.locator("button:has-text('同意退款')").click()
        expect(finance.locator(".refund-row", has_text=order["number"])).to_have_count(0)
        finance.context.close()

        # The worker calls the simulator's refund; its notify or the result finishes it.
        page.goto(live_url(host, f"/billing/orders/{order['id']}/"))
        for _attempt in range(20):
            if page.locator("#refund-status").inner_text() == "已退款":
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(page.locator("#refund-status")).to_have_text("已退款")
        page.context.close()
        with schema_context("miniapp"):
            assert sum(Order.objects.get(pk=order["id"]).ledger.values_list("amount_fen", flat=True)) == 98000
    finally:
        with schema_context("miniapp"):
            Token.objects.filter(user=student).delete()
        _certificates_cleanup("miniapp", holders=[student])  # payment issued its 听课证 and 准考证
        _billing_cleanup("miniapp", person=student, users=[student], sessions=[session])

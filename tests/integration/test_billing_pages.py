"""The billing pages on sichuan.localhost: a company previews the split of its approved people, creates the
orders, pays by transfer with a proof; finance confirms (or flags a short amount), issues the invoice and
decides refunds. Every refusal changes nothing; other companies and the look-alike tenant see a 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import Invoice, Order, OrderItem, Payment, Refund
from billing.services import OrderRequest, orders_create, refund_request
from registration.models import Application
from shared.accounts.models import Company, InvoiceTitle, User, UserKind
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tenant_configs.selectors import rules_current
from tests.conftest import CONFIGS, host_client, staff_client
from tests.factories import StaffFactory, UserFactory
from tests.integration.test_billing_orders import _approved as approved
from tests.integration.test_billing_orders import _company
from tests.unit.test_document_checks import photo_jpeg

pytestmark = pytest.mark.django_db
HOST = "sichuan.localhost"
PLEDGES = {"pledge_training_agreement": "1", "pledge_company_pledge": "1"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _enrol_rules():
    """sichuan's rules with jianli_2022 enrolled by the company without review, documents or form, so the
    applications are approved at once; the site itself runs on the tenant's published rules."""
    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    program = next(item for item in data["programs"] if item["code"] == "jianli_2022")
    program.update(
        channel="both",
        review_chain=[],
        company_may_edit=False,
        requires_real_name=False,
        fields=[],
        documents=[],
    )
    program["pledges"] = [pledge for pledge in program["pledges"] if pledge["stage"] == "payment"]
    data["identity"]["real_name_verification"] = "none"
    return load_rules_data(data, source="billing pages test")


ENROL_RULES = _enrol_rules()


def _approved(operator, persons, *, with_materials: bool) -> list[Application]:
    return approved(
        operator, persons, with_materials=with_materials, rules=ENROL_RULES, program_code="jianli_2022"
    )


def _login(user: User, host: str = HOST):
    client = host_client(host)
    with schema_context(host.split(".")[0]):
        client.force_login(user)
    return client


@pytest.fixture
def fifteen(tenant_a):
    """成都监理 with 12 approved people who take the materials and 3 who do not, and a saved title."""
    with schema_context("sichuan"):
        company, operator, persons = _company("成都监理", 15)
        applications = _approved(operator, persons[:12], with_materials=True) + _approved(
            operator, persons[12:], with_materials=False
        )
        title = InvoiceTitle.objects.create(
            company=company, title="成都监理有限公司", tax_number="91510100MA61234567", is_default=True
        )
    return {"operator": operator, "applications": applications, "title": title, "company": company}


def _form(applications, **changes):
    data = {
        "application_ids": [str(application.pk) for application in applications],
        "channel": "offline_transfer",
        "invoice_type": "",
        "invoice_title": "",
        "receipt_email": "caiwu@example.com",
        **PLEDGES,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _orders_for(fifteen, applications=None) -> list[Order]:
    with schema_context("sichuan"):
        return orders_create(
            rules=rules_current(),
            rules_version=1,
            actor=fifteen["operator"],
            request=OrderRequest(
                application_ids=[a.pk for a in (applications or fifteen["applications"])],
                channel="offline_transfer",
                invoice_type="electronic_normal",
                invoice_title={"title": "成都监理有限公司", "tax_number": "91510100MA61234567"},
                receipt_email="caiwu@example.com",
                pledges={"training_agreement": "1", "company_pledge": "1"},
            ),
        )


def _proof(order: Order, operator) -> Payment:
    client = _login(operator)
    response = client.post(
        f"/billing/orders/{order.pk}/proof/",
        {"proof": SimpleUploadedFile("huikuan.pdf", PDF, content_type="application/pdf")},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("sichuan"):
        return Payment.objects.get(order=order)


# ---------------------------------------------------------------------------------------------------------
# choosing, previewing, creating
# ---------------------------------------------------------------------------------------------------------


def test_the_company_sees_its_approved_people_the_channels_and_the_pledges(fifteen):
    client = _login(fifteen["operator"])

    response = client.get("/billing/pay/")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="payable-row"') == 15
    assert [label in page for label in ("微信扫码支付", "支付宝扫码支付", "线下汇款")] == [True] * 3
    assert "《委托培训协议》" in page and "《企业承诺书》" in page
    options = client.get("/billing/pay/invoice-types/?channel=wechat_native").content.decode()
    assert options.count("<option") == 2 and "增值税电子普通发票" in options and "专用" not in options
    assert "成都监理有限公司（91510100MA61234567）" in page


def test_the_preview_shows_the_three_orders_the_cap_and_materials_rules_propose(fifteen):
    client = _login(fifteen["operator"])

    response = client.post("/billing/pay/submit/", _form(fifteen["applications"], action="preview"))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="proposed-order"') == 3
    assert [cell.split("</td>")[0] for cell in page.split('<td class="total">')[1:]] == [
        "9,200.00",
        "1,840.00",
        "2,400.00",
    ]
    assert [cell.split("</td>")[0] for cell in page.split('<td class="running">')[1:]] == [
        "9,200.00",
        "11,040.00",
        "13,440.00",
    ]
    notes = page.split('<ul id="preview-notes">')[1].split("</ul>")[0]
    assert notes == (
        "<li>含培训资料与不含培训资料的人员分开缴费</li>"
        "<li>单次缴费（一张发票）金额不超过 10,000.00 元，已分为 3 笔</li>"
    )
    assert 'id="confirm"' in page
    with schema_context("sichuan"):
        assert not Order.objects.exists()


def test_confirming_creates_the_orders_and_lists_them(fifteen):
    client = _login(fifteen["operator"])

    response = client.post(
        "/billing/pay/submit/",
        _form(
            fifteen["applications"],
            action="confirm",
            invoice_type="electronic_normal",
            invoice_title=str(fifteen["title"].pk),
        ),
    )

    assert response.status_code == 302 and response["Location"] == "/billing/orders/"
    with schema_context("sichuan"):
        orders = list(Order.objects.order_by("id"))
        assert [(order.total_fen, order.items.count()) for order in orders] == [
            (920000, 10),
            (184000, 2),
            (240000, 3),
        ]
        assert [order.invoice.title["title"] for order in orders] == ["成都监理有限公司"] * 3
    listing = client.get("/billing/orders/").content.decode()
    assert listing.count('class="order-row"') == 3
    assert listing.count("待支付") == 3
    assert "已生成 3 个订单，合计 13,440.00 元" in listing
    assert 'class="payable-row"' not in client.get("/billing/pay/").content.decode()


def test_a_missing_pledge_is_refused_and_nothing_is_created(fifteen):
    client = _login(fifteen["operator"])

    response = client.post(
        "/billing/pay/submit/",
        _form(fifteen["applications"], action="confirm", pledge_company_pledge=None),
    )

    assert response.status_code == 200
    assert '<p class="error" id="pay-error">请阅读并同意《企业承诺书》</p>' in response.content.decode()
    with schema_context("sichuan"):
        assert (Order.objects.count(), OrderItem.objects.count()) == (0, 0)


def test_an_invoice_without_a_title_and_a_special_invoice_online_are_refused(fifteen):
    client = _login(fifteen["operator"])

    untitled = client.post(
        "/billing/pay/submit/",
        _form(fifteen["applications"], action="confirm", invoice_type="electronic_normal"),
    )
    online = client.post(
        "/billing/pay/submit/",
        _form(
            fifteen["applications"],
            action="confirm",
            channel="wechat_native",
            invoice_type="special_vat",
            invoice_title=str(fifteen["title"].pk),
        ),
    )

    assert "开具发票请选择发票抬头" in untitled.content.decode()
    assert 'id="preview-problems"' in online.content.decode()
    with schema_context("sichuan"):
        assert not Order.objects.exists()


def test_the_payer_sees_only_its_own_orders(fifteen, tenant_b):
    orders = _orders_for(fifteen)
    with schema_context("sichuan"):
        _, other_operator, _ = _company("别家监理", 0, serial=100)
    with schema_context("sichuanb"):
        twin_company = Company.objects.create(name="成都监理")
        twin = UserFactory(username="op-成都监理", kind=UserKind.COMPANY, company=twin_company)

    mine = _login(fifteen["operator"]).get(f"/billing/orders/{orders[0].pk}/")
    other = _login(other_operator)
    look_alike = _login(twin, "sichuanb.localhost")

    assert mine.status_code == 200
    assert other.get(f"/billing/orders/{orders[0].pk}/").status_code == 404
    assert other.post(f"/billing/orders/{orders[0].pk}/cancel/").status_code == 404
    assert 'class="order-row"' not in other.get("/billing/orders/").content.decode()
    assert look_alike.get(f"/billing/orders/{orders[0].pk}/").status_code == 404
    with schema_context("sichuan"):
        assert Order.objects.get(pk=orders[0].pk).status == "open"


# ---------------------------------------------------------------------------------------------------------
# offline transfer
# ---------------------------------------------------------------------------------------------------------


def test_the_transfer_page_shows_the_bank_account_and_the_reference(fifteen):
    order = _orders_for(fifteen)[0]

    page = _login(fifteen["operator"]).get(f"/billing/orders/{order.pk}/").content.decode()

    assert '<dd id="bank-account-name">四川省建设工程质量安全与监理协会</dd>' in page
    assert '<dd id="bank-name">中国建设银行成都城北支行</dd>' in page
    assert '<dd id="account-number">51001234567890123456</dd>' in page
    assert f'<strong id="reference">{order.reference}</strong>' in page
    assert 'id="order-total">9,200.00<' in page


def test_a_pdf_or_an_image_proof_is_accepted_and_a_text_file_refused(fifteen):
    first, second, third = _orders_for(fifteen)
    client = _login(fifteen["operator"])

    pdf = client.post(
        f"/billing/orders/{first.pk}/proof/",
        {"proof": SimpleUploadedFile("huikuan.pdf", PDF, content_type="application/pdf")},
    )
    image = client.post(
        f"/billing/orders/{second.pk}/proof/",
        {"proof": SimpleUploadedFile("huikuan.jpg", photo_jpeg(), content_type="image/jpeg")},
    )
    text = client.post(
        f"/billing/orders/{third.pk}/proof/",
        {"proof": SimpleUploadedFile("huikuan.txt", b"transfer done", content_type="text/plain")},
    )

    assert (pdf.status_code, image.status_code, text.status_code) == (302, 302, 400)
    assert "汇款凭证：无法识别文件类型，只允许上传 JPG、PNG、PDF 文件" in text.content.decode()
    with schema_context("sichuan"):
        assert [
            (payment.order_id, payment.status, payment.proof_id is not None)
            for payment in Payment.objects.order_by("order_id")
        ] == [(first.pk, "pending", True), (second.pk, "pending", True)]
    assert "等待协会财务确认到账" in client.get(f"/billing/orders/{first.pk}/").content.decode()


def test_finance_confirms_the_full_amount_and_the_order_and_applications_are_paid(fifteen):
    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    finance = staff_client(HOST, "finance")

    queue = finance.get("/billing/finance/transfers/").content.decode()
    proof = finance.get(f"/billing/finance/transfers/{payment.pk}/proof/")
    response = finance.post(
        f"/billing/finance/transfers/{payment.pk}/decide/", {"decision": "confirm", "received": "9200.00"}
    )

    assert order.reference in queue and '<td class="expected">9,200.00</td>' in queue
    assert proof.status_code == 200 and b"".join(proof.streaming_content) == PDF
    assert response.status_code == 302
    with schema_context("sichuan"):
        order.refresh_from_db()
        assert order.status == "paid"
        assert set(Application.objects.filter(order_items__order=order).values_list("status", flat=True)) == {
            "paid"
        }
        assert Payment.objects.get(pk=payment.pk).received_fen == 920000
    page = _login(fifteen["operator"]).get(f"/billing/orders/{order.pk}/").content.decode()
    assert '<strong id="order-status">已支付</strong>' in page


def test_finance_confirming_a_short_amount_flags_the_order_and_does_not_pay_it(fifteen):
    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    finance = staff_client(HOST, "finance")

    response = finance.post(
        f"/billing/finance/transfers/{payment.pk}/decide/",
        {"decision": "confirm", "received": "9000"},
        follow=True,
    )

    assert "到账金额 9,000.00 元与应付金额 9,200.00 元不符" in response.content.decode()
    with schema_context("sichuan"):
        order.refresh_from_db()
        assert (order.status, order.needs_attention) == ("open", "amount_mismatch:900000CNY")
        assert Payment.objects.get(pk=payment.pk).status == "pending"
        assert set(Application.objects.filter(order_items__order=order).values_list("status", flat=True)) == {
            "approved"
        }


def test_staff_without_the_finance_role_get_403_and_nothing_changes(fifteen):
    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    with schema_context("sichuan"):
        StaffFactory(username="shenhe", staff_roles=["reviewer"])
    reviewer = staff_client(HOST, "shenhe")

    assert reviewer.get("/billing/finance/transfers/").status_code == 403
    response = reviewer.post(
        f"/billing/finance/transfers/{payment.pk}/decide/", {"decision": "confirm", "received": "9200"}
    )
    assert response.status_code == 403
    assert _login(fifteen["operator"]).get("/billing/finance/transfers/").status_code == 403
    # In sichuan the company pays: a person gets no payment page.
    with schema_context("sichuan"):
        person = User.objects.get(username="成都监理-0")
    assert _login(person).get("/billing/pay/").status_code == 403
    with schema_context("sichuan"):
        assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_cancelling_an_order_frees_its_people_for_a_new_payment(fifteen):
    order = _orders_for(fifteen, fifteen["applications"][12:])[0]
    client = _login(fifteen["operator"])
    assert client.get("/billing/pay/").content.decode().count('class="payable-row"') == 12

    response = client.post(f"/billing/orders/{order.pk}/cancel/")

    assert response.status_code == 302
    with schema_context("sichuan"):
        order.refresh_from_db()
        assert order.status == "cancelled"
        assert not order.items.filter(live=True).exists()
    assert client.get("/billing/pay/").content.decode().count('class="payable-row"') == 15


def test_changing_to_an_online_channel_shows_the_gateway_qr_code(fifteen):
    order = _orders_for(fifteen)[0]
    client = _login(fifteen["operator"])

    response = client.post(f"/billing/orders/{order.pk}/pay/", {"channel": "wechat_native"})
    page = client.get(f"/billing/orders/{order.pk}/").content.decode()

    assert response.status_code == 302
    with schema_context("sichuan"):
        payment = Payment.objects.get(order=order)
        assert (payment.channel, payment.status, Order.objects.get(pk=order.pk).channel) == (
            "wechat_native",
            "created",
            "wechat_native",
        )
    qr = page.split('<code id="qr-content">')[1].split("</code>")[0]
    assert f"/pay/simulator/{payment.out_trade_no}" in qr


def test_a_special_vat_invoice_order_cannot_change_to_online_payment(fifteen):
    with schema_context("sichuan"):
        order = orders_create(
            rules=rules_current(),
            rules_version=1,
            actor=fifteen["operator"],
            request=OrderRequest(
                application_ids=[a.pk for a in fifteen["applications"][12:]],
                channel="offline_transfer",
                invoice_type="special_vat",
                invoice_title={"title": "成都监理有限公司", "tax_number": "91510100MA61234567"},
                receipt_email="caiwu@example.com",
                pledges={"training_agreement": "1", "company_pledge": "1"},
            ),
        )[0]

    response = _login(fifteen["operator"]).post(f"/billing/orders/{order.pk}/pay/", {"channel": "alipay_qr"})

    assert response.status_code == 400
    assert "本订单申请的增值税专用发票不能通过支付宝扫码支付开具" in response.content.decode()
    with schema_context("sichuan"):
        assert (Payment.objects.count(), Order.objects.get(pk=order.pk).channel) == (0, "offline_transfer")


# ---------------------------------------------------------------------------------------------------------
# invoices and refunds
# ---------------------------------------------------------------------------------------------------------


def test_finance_issues_the_invoice_of_a_paid_order(fifteen):
    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    finance = staff_client(HOST, "finance")
    finance.post(
        f"/billing/finance/transfers/{payment.pk}/decide/", {"decision": "confirm", "received": "9200"}
    )
    with schema_context("sichuan"):
        invoice = Invoice.objects.get(order=order)

    empty = finance.post(
        f"/billing/finance/invoices/{invoice.pk}/issue/", {"number": "", "issued_on": "2026-11-20"}
    )
    response = finance.post(
        f"/billing/finance/invoices/{invoice.pk}/issue/",
        {
            "number": "25512000000012345678",
            "issued_on": "2026-11-20",
            "pdf": SimpleUploadedFile("fapiao.pdf", PDF, content_type="application/pdf"),
        },
    )

    assert empty.status_code == 400 and "请填写发票号码" in empty.content.decode()
    assert response.status_code == 302
    with schema_context("sichuan"):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.number, str(invoice.issued_on)) == (
            "issued",
            "25512000000012345678",
            "2026-11-20",
        )
        assert invoice.pdf.company_id == fifteen["company"].pk
    page = _login(fifteen["operator"]).get(f"/billing/orders/{order.pk}/").content.decode()
    assert "已开票" in page and f"/documents/{invoice.pdf_id}/file" in page


def test_the_refund_requester_cannot_approve_it_but_another_finance_person_can(fifteen):
    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    finance = staff_client(HOST, "finance")
    finance.post(
        f"/billing/finance/transfers/{payment.pk}/decide/", {"decision": "confirm", "received": "9200"}
    )
    with schema_context("sichuan"):
        requester = User.objects.get(username="finance")
        refund = refund_request(
            payment_id=payment.pk, actor=requester, amount_fen=80000, reason="已缴费未参加培训"
        )
        StaffFactory(username="caiwu2", staff_roles=["finance"])

    refused = finance.post(f"/billing/finance/refunds/{refund.pk}/decide/", {"decision": "approve"})
    with schema_context("sichuan"):
        after_refusal = Refund.objects.get(pk=refund.pk).status
    approved = staff_client(HOST, "caiwu2").post(
        f"/billing/finance/refunds/{refund.pk}/decide/", {"decision": "approve"}
    )

    assert refused.status_code == 400
    assert "退款须由申请人以外的人员审核" in refused.content.decode()
    assert after_refusal == "requested"
    assert approved.status_code == 302
    with schema_context("sichuan"):
        assert Refund.objects.get(pk=refund.pk).status == "approved"


def test_the_report_totals_confirmed_payments_and_exports_them(fifteen):
    from io import BytesIO

    from openpyxl import load_workbook

    order = _orders_for(fifteen)[0]
    payment = _proof(order, fifteen["operator"])
    finance = staff_client(HOST, "finance")
    finance.post(
        f"/billing/finance/transfers/{payment.pk}/decide/", {"decision": "confirm", "received": "9200"}
    )
    today = timezone.localdate().isoformat()

    page = finance.get(f"/billing/finance/report/?start={today}&end={today}").content.decode()
    export = finance.get(f"/billing/finance/report.xlsx?start={today}&end={today}")

    assert '<strong id="report-total">9,200.00</strong>' in page
    assert 'data-channel="offline_transfer"><td>线下汇款</td><td>1</td>' in page
    rows = list(load_workbook(BytesIO(export.content)).active.iter_rows(values_only=True))
    assert rows[0][1:4] == ("订单号", "付款方", "支付方式")
    assert [(row[1], row[2], row[3], float(row[5])) for row in rows[1:]] == [
        (order.number, "成都监理", "线下汇款", 9200.0)
    ]

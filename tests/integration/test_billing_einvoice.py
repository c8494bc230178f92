"""发票 through the e-invoice open platform (billing.einvoice), faked at the HTTP boundary with `responses`:
every request's HMAC-SHA256 signature is checked here with the appSecret this test generated, and every
answer is signed with it (or, to be refused, with another key). A refusal, a bad signature or a malformed
answer leaves the invoice requested with nothing stored; a repeated issue is a no-op; a refund red-flushes
the platform invoice through a Celery task, once. Finance registering a hand-issued invoice with a file that
is not a PDF is refused with nothing stored. The look-alike tenant (sichuanb) sees none of sichuan's
invoices or platform settings."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from contextlib import nullcontext
from datetime import date

import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from billing import merchant_settings as ms
from billing.einvoice import EInvoiceError, ManualProvider, einvoice_provider, einvoice_settings
from billing.models import Invoice, MerchantAccount, Order
from billing.providers.base import PaymentResult, RefundResult
from billing.services import (
    BillingError,
    invoice_issue_electronic,
    invoice_red_flush_electronic,
    orders_create,
    payment_apply_result,
    payment_create,
    refund_apply_result,
    refund_decide,
    refund_request,
)
from billing.tasks import invoice_red_flush_task
from shared.accounts.models import User
from shared.documents.models import Document
from shared.models import AuditEntry
from tests.conftest import host_client, staff_client
from tests.factories import StaffFactory
from tests.integration.test_billing_orders import RULES, _approved, _company, _request

pytestmark = pytest.mark.django_db
HOST = "sichuan.localhost"
ENDPOINT = "https://fapiao.example.cn/open"
ISSUE = ENDPOINT + "/v1/invoice/issue"
RED_FLUSH = ENDPOINT + "/v1/invoice/red-flush"
APP_KEY = "sc-xiehui-app"
SECRET = secrets.token_urlsafe(32)  # generated here: the test signs and verifies with it
SELLER = "91510100MA62XH0001"
FEE = 80000
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NUMBER = "25512000000012345678"


@pytest.fixture
def eager_tasks():
    from shared.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


# ---------------------------------------------------------------------------------------------------------
# the platform, at the HTTP boundary
# ---------------------------------------------------------------------------------------------------------


def _sign(secret: str, first_line: str, path: str, nonce: str, timestamp: str, body: bytes) -> str:
    canonical = "\n".join(
        (
            first_line,
            path,
            f"appKey={APP_KEY}&nonce={nonce}&timestamp={timestamp}",
            hashlib.sha256(body).hexdigest(),
        )
    )
    return base64.b64encode(hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()).decode()


class Platform:
    """Records and verifies each request; answers `answer` signed with `secret`."""

    def __init__(self, gateway, url: str, answer, *, secret: str = SECRET, raw: bytes | None = None):
        self.bodies: list[dict] = []
        self.answer, self.secret, self.raw = answer, secret, raw
        self.path = url.removeprefix("https://fapiao.example.cn")
        gateway.add_callback(responses.POST, url, callback=self)

    def __call__(self, request):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        headers = request.headers
        assert headers["X-App-Key"] == APP_KEY
        assert abs(int(headers["X-Timestamp"]) - time.time() * 1000) < 60_000
        assert len(headers["X-Nonce"]) == 32
        assert headers["X-Sign"] == _sign(
            SECRET, "POST", self.path, headers["X-Nonce"], headers["X-Timestamp"], body
        )
        self.bodies.append(json.loads(body))
        answer = self.raw if self.raw is not None else json.dumps(self.answer, ensure_ascii=False).encode()
        nonce, timestamp = secrets.token_hex(16), str(int(time.time() * 1000))
        signed = {
            "Content-Type": "application/json",
            "X-Nonce": nonce,
            "X-Timestamp": timestamp,
            "X-Sign": _sign(self.secret, "200", self.path, nonce, timestamp, answer),
        }
        return 200, signed, answer


def _issued(**data) -> dict:
    return {
        "code": "0000",
        "message": "成功",
        "data": {
            "platformSerialNo": "NN20261120000123",
            "invoiceCode": "",
            "invoiceNo": NUMBER,
            "invoiceDate": "2026-11-20 10:31:05",
            "pdfBase64": base64.b64encode(PDF).decode(),
            **data,
        },
    }


# ---------------------------------------------------------------------------------------------------------
# given
# ---------------------------------------------------------------------------------------------------------


def _configure(schema: str = "sichuan") -> None:
    with schema_context(schema):
        ms.merchant_settings_save(
            ms.EINVOICE,
            ms.EInvoiceSettings(
                endpoint=ENDPOINT, app_key=APP_KEY, app_secret=SECRET, seller_tax_number=SELLER
            ),
        )


def _paid_order(schema: str, *, invoice_type: str = "electronic_normal", serial: int = 0) -> dict:
    """A paid WeChat Pay order of one person (800 元) asking for `invoice_type`."""
    with schema_context(schema):
        company, operator, persons = _company("成都监理", 1, serial=serial)
        applications = _approved(operator, persons, with_materials=False)
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=operator,
            request=_request(applications, channel="wechat_native", invoice_type=invoice_type),
        )
        payment = payment_create(order_id=order.pk, actor=operator, channel="wechat_native")
        result = PaymentResult(
            payment.out_trade_no, "success", FEE, "CNY", f"42000000002026112000{serial:05d}"
        )
        assert payment_apply_result(channel="wechat_native", result=result, source="test") == "confirmed"
        invoice = Invoice.objects.get(order=order)
        label = order.items.get().label
    return {
        "order": order,
        "invoice": invoice,
        "payment": payment,
        "operator": operator,
        "company": company,
        "label": label,
    }


def _state(invoice: Invoice, schema: str = "sichuan") -> tuple:
    with schema_context(schema):
        fresh = Invoice.objects.get(pk=invoice.pk)
        return (
            fresh.status,
            fresh.number,
            fresh.code,
            fresh.issued_on,
            fresh.pdf_id,
            fresh.platform_serial,
            fresh.red_flush_serial,
            Document.objects.count(),
            AuditEntry.objects.filter(action__startswith="invoice.").count(),
        )


def _finance_user(schema: str = "sichuan") -> User:
    with schema_context(schema):
        return User.objects.get(username="finance")


def _issue(paid: dict) -> Invoice:
    with schema_context("sichuan"):
        return invoice_issue_electronic(invoice_id=paid["invoice"].pk, actor=_finance_user())


# ---------------------------------------------------------------------------------------------------------
# issuing
# ---------------------------------------------------------------------------------------------------------


def test_finance_issues_an_electronic_invoice_and_the_payer_opens_its_pdf(tenant_a, tenant_b):
    _configure()
    paid = _paid_order("sichuan")
    finance = staff_client(HOST, "finance")

    listing = finance.get("/billing/finance/invoices/").content.decode()
    with responses.RequestsMock() as gateway:
        platform = Platform(gateway, ISSUE, _issued())
        response = finance.post(f"/billing/finance/invoices/{paid['invoice'].pk}/issue-electronic/")

    assert "电子开票" in listing and "issue-electronic" in listing
    assert response.status_code == 302, response.content.decode()[:2000]
    assert platform.bodies == [
        {
            "serialNo": f"INV{paid['order'].number}",
            "sellerTaxNo": SELLER,
            "invoiceType": "ELECTRONIC_NORMAL",
            "buyer": {
                "name": "成都监理有限公司",
                "taxNo": "91510100MA61234567",
                "addressPhone": "",
                "bankAccount": "",
                "email": "finance@example.com",
            },
            "totalAmount": "800.00",
            "items": [{"name": paid["label"], "amount": "800.00", "quantity": 1}],
            "remark": f"订单号 {paid['order'].number}",
        }
    ]
    with schema_context("sichuan"):
        invoice = Invoice.objects.select_related("pdf").get(pk=paid["invoice"].pk)
        assert (invoice.status, invoice.number, invoice.code, invoice.issued_on, invoice.platform_serial) == (
            "issued",
            NUMBER,
            "",
            date(2026, 11, 20),
            "NN20261120000123",
        )
        assert (invoice.pdf.owner_id, invoice.pdf.company_id, invoice.pdf.key) == (
            paid["operator"].pk,
            paid["company"].pk,
            f"invoice:{paid['order'].number}",
        )
        assert AuditEntry.objects.filter(action="invoice.issue").values_list("data", flat=True).get() == {
            "number": NUMBER,
            "source": "platform",
            "platform_serial": "NN20261120000123",
        }
    payer = host_client(HOST)
    with schema_context("sichuan"):
        payer.force_login(paid["operator"])
    order_page = payer.get(f"/billing/orders/{paid['order'].pk}/").content.decode()
    pdf = payer.get(f"/documents/{invoice.pdf_id}/file")
    assert "已开票" in order_page and f"/documents/{invoice.pdf_id}/file" in order_page
    assert (pdf.status_code, b"".join(pdf.streaming_content)) == (200, PDF)


def test_a_pdf_given_by_url_is_fetched(tenant_a):
    _configure()
    paid = _paid_order("sichuan")
    pdf_url = "https://fapiao.example.cn/files/abc.pdf?token=t1"

    with responses.RequestsMock() as gateway:
        Platform(gateway, ISSUE, _issued(pdfBase64="", pdfUrl=pdf_url))
        gateway.add(responses.GET, pdf_url, body=PDF, content_type="application/pdf")
        invoice = _issue(paid)

    with schema_context("sichuan"):
        assert invoice.status == "issued"
        assert Document.objects.get(pk=invoice.pdf_id).file.read() == PDF


def test_a_platform_refusal_shows_its_message_and_changes_nothing(tenant_a):
    _configure()
    paid = _paid_order("sichuan")
    before = _state(paid["invoice"])
    finance = staff_client(HOST, "finance")

    with responses.RequestsMock() as gateway:
        Platform(gateway, ISSUE, {"code": "E1001", "message": "购方税号校验失败", "data": None})
        response = finance.post(f"/billing/finance/invoices/{paid['invoice'].pk}/issue-electronic/")

    assert response.status_code == 400
    assert "电子发票平台：购方税号校验失败" in response.content.decode()
    assert _state(paid["invoice"]) == before
    assert before[0] == "requested"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("signed_with_another_key", "bad_signature"),
        ("no_invoice_number", "malformed_response"),
        ("bad_date", "malformed_response"),
        ("pdf_not_a_pdf", "malformed_response"),
        ("no_pdf", "malformed_response"),
        ("not_json", "malformed_response"),
    ],
)
def test_an_untrustworthy_or_malformed_answer_changes_nothing(tenant_a, case, code):
    _configure()
    paid = _paid_order("sichuan")
    before = _state(paid["invoice"])
    options: dict = {
        "signed_with_another_key": {"answer": _issued(), "secret": secrets.token_urlsafe(32)},
        "no_invoice_number": {"answer": _issued(invoiceNo="")},
        "bad_date": {"answer": _issued(invoiceDate="20/11/2026")},
        "pdf_not_a_pdf": {"answer": _issued(pdfBase64=base64.b64encode(b"<html>fapiao</html>").decode())},
        "no_pdf": {"answer": _issued(pdfBase64="")},
        "not_json": {"answer": None, "raw": b"<html>502 Bad Gateway</html>"},
    }[case]

    with responses.RequestsMock() as gateway, pytest.raises(BillingError) as refused:
        Platform(gateway, ISSUE, **options)
        _issue(paid)

    assert refused.value.code == code
    assert _state(paid["invoice"]) == before


def test_issuing_again_is_a_no_op_and_a_retry_reuses_the_serial(tenant_a):
    _configure()
    paid = _paid_order("sichuan")

    with responses.RequestsMock() as gateway:
        # The first answer cannot be trusted, so nothing is recorded; the retry carries the same serial, so
        # the platform hands back the invoice it already issued instead of a second one.
        refused = Platform(gateway, ISSUE, _issued(), secret="another-secret-0000")
        with pytest.raises(BillingError):
            _issue(paid)
    with responses.RequestsMock() as gateway:
        accepted = Platform(gateway, ISSUE, _issued())
        first = _issue(paid)
    after_first = _state(paid["invoice"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as gateway:
        again = Platform(gateway, ISSUE, _issued(invoiceNo="99999999999999999999"))
        second = _issue(paid)

    assert refused.bodies[0]["serialNo"] == accepted.bodies[0]["serialNo"] == f"INV{paid['order'].number}"
    assert again.bodies == []
    assert (first.number, second.number) == (NUMBER, NUMBER)
    assert _state(paid["invoice"]) == after_first


def test_electronic_issue_without_a_platform_is_refused(tenant_a):
    paid = _paid_order("sichuan")
    before = _state(paid["invoice"])

    with pytest.raises(BillingError) as refused:
        _issue(paid)
    listing = staff_client(HOST, "finance").get("/billing/finance/invoices/").content.decode()

    assert refused.value.code == "einvoice_not_configured"
    assert "issue-electronic" not in listing and "登记开票" in listing
    assert _state(paid["invoice"]) == before


# ---------------------------------------------------------------------------------------------------------
# red flush after a refund
# ---------------------------------------------------------------------------------------------------------


def _refunded(paid: dict, capture=None) -> list:
    """Refund the whole payment; with `capture` (django_capture_on_commit_callbacks) the after-commit work
    runs, without it it is dropped as in any test transaction."""
    with schema_context("sichuan"):
        refund = refund_request(
            payment_id=paid["payment"].pk, actor=_finance_user(), amount_fen=FEE, reason="已缴费未参加培训"
        )
        refund_decide(
            refund_id=refund.pk, actor=StaffFactory(username="caiwu2", staff_roles=["finance"]), approve=True
        )
        with capture(execute=True) if capture else nullcontext([]) as callbacks:
            outcome = refund_apply_result(
                result=RefundResult(refund.out_refund_no, "success", FEE, "50300000012026112000000001"),
                source="test",
            )
    assert outcome == "refunded"
    return callbacks


def test_a_refund_red_flushes_the_platform_invoice_once(
    tenant_a, eager_tasks, django_capture_on_commit_callbacks
):
    _configure()
    paid = _paid_order("sichuan")
    with responses.RequestsMock() as gateway:
        Platform(gateway, ISSUE, _issued())
        _issue(paid)

    with responses.RequestsMock() as gateway:
        platform = Platform(
            gateway,
            RED_FLUSH,
            {
                "code": "0000",
                "message": "成功",
                "data": {"platformSerialNo": "NNRED0001", "invoiceNo": "25512000000099990001"},
            },
        )
        callbacks = _refunded(paid, django_capture_on_commit_callbacks)
    after = _state(paid["invoice"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as gateway:
        again = Platform(
            gateway, RED_FLUSH, {"code": "0000", "message": "成功", "data": {"platformSerialNo": "X"}}
        )
        with schema_context("sichuan"):
            rerun = invoice_red_flush_task.delay(paid["invoice"].pk).get()

    assert len(callbacks) == 1
    assert platform.bodies == [
        {
            "serialNo": f"RED{paid['order'].number}",
            "sellerTaxNo": SELLER,
            "originalSerialNo": "NN20261120000123",
            "invoiceCode": "",
            "invoiceNo": NUMBER,
            "reason": "退款",
        }
    ]
    assert (after[0], after[6]) == ("red_flushed", "NNRED0001")
    with schema_context("sichuan"):
        assert AuditEntry.objects.filter(action="invoice.red_flush").values_list("data", flat=True).get() == {
            "platform_serial": "NNRED0001",
            "red_number": "25512000000099990001",
        }
    assert (rerun, again.bodies) == ("already", [])
    assert _state(paid["invoice"]) == after


def test_a_refused_red_flush_stores_nothing_and_can_be_retried(tenant_a):
    _configure()
    paid = _paid_order("sichuan")
    with responses.RequestsMock() as gateway:
        Platform(gateway, ISSUE, _issued())
        _issue(paid)
    _refunded(paid)  # the task is not run here
    before = _state(paid["invoice"])

    with responses.RequestsMock() as gateway, schema_context("sichuan"):
        Platform(gateway, RED_FLUSH, {"code": "E2002", "message": "原发票状态异常"})
        with pytest.raises(EInvoiceError) as refused:
            invoice_red_flush_electronic(invoice_id=paid["invoice"].pk)

    assert refused.value.message == "电子发票平台：原发票状态异常"
    assert _state(paid["invoice"]) == before
    assert (before[0], before[6]) == ("red_flushed", "")


def test_a_hand_issued_invoice_is_not_sent_to_the_platform_on_refund(
    tenant_a, django_capture_on_commit_callbacks
):
    paid = _paid_order("sichuan")
    finance = staff_client(HOST, "finance")
    finance.post(
        f"/billing/finance/invoices/{paid['invoice'].pk}/issue/",
        {"number": NUMBER, "issued_on": "2026-11-20"},
    )
    _configure()

    callbacks = _refunded(paid, django_capture_on_commit_callbacks)
    with schema_context("sichuan"):
        outcome = invoice_red_flush_electronic(invoice_id=paid["invoice"].pk)

    assert callbacks == []
    assert outcome == "issued_by_hand"
    assert _state(paid["invoice"])[:2] == ("red_flushed", NUMBER)


# ---------------------------------------------------------------------------------------------------------
# by hand
# ---------------------------------------------------------------------------------------------------------


def test_a_hand_issued_invoice_with_a_file_that_is_not_a_pdf_is_refused_with_nothing_stored(tenant_a):
    paid = _paid_order("sichuan")
    before = _state(paid["invoice"])
    finance = staff_client(HOST, "finance")

    response = finance.post(
        f"/billing/finance/invoices/{paid['invoice'].pk}/issue/",
        {
            "number": NUMBER,
            "issued_on": "2026-11-20",
            "pdf": SimpleUploadedFile(
                "fapiao.pdf", b"<html>not a pdf</html>", content_type="application/pdf"
            ),
        },
    )

    assert response.status_code == 400
    assert "发票 PDF：" in response.content.decode()
    assert _state(paid["invoice"]) == before


def test_hand_issue_records_the_pdf_and_the_issue_together(tenant_a):
    paid = _paid_order("sichuan")
    finance = staff_client(HOST, "finance")

    response = finance.post(
        f"/billing/finance/invoices/{paid['invoice'].pk}/issue/",
        {
            "number": f" {NUMBER} ",
            "issued_on": "2026-11-20",
            "pdf": SimpleUploadedFile("fapiao.pdf", PDF, content_type="application/pdf"),
        },
    )
    repeated = finance.post(
        f"/billing/finance/invoices/{paid['invoice'].pk}/issue/", {"number": "1", "issued_on": "2026-11-21"}
    )

    assert response.status_code == 302
    assert repeated.status_code == 404  # no longer among the invoices to issue
    status, number, _code, issued_on, pdf_id, platform_serial, _, _, audits = _state(paid["invoice"])
    assert (status, number, issued_on, platform_serial, audits) == (
        "issued",
        NUMBER,
        date(2026, 11, 20),
        "",
        1,
    )
    with schema_context("sichuan"):
        assert Document.objects.get(pk=pdf_id).file.read() == PDF


# ---------------------------------------------------------------------------------------------------------
# settings and the look-alike tenant
# ---------------------------------------------------------------------------------------------------------


def test_finance_saves_the_platform_settings_and_never_sees_the_secret_again(tenant_a, tenant_b):
    finance = staff_client(HOST, "finance")
    url = "/billing/finance/merchant/einvoice/"
    form = {
        "kind": "einvoice",
        "endpoint": ENDPOINT,
        "app_key": APP_KEY,
        "app_secret": SECRET,
        "seller_tax_number": SELLER,
    }

    bad = finance.post(url, {**form, "endpoint": "http://fapiao.example.cn/open"})
    with schema_context("sichuan"):
        after_bad = MerchantAccount.objects.count()
    saved = finance.post(url, form)
    kept = finance.post(url, {**form, "app_secret": ""})
    page = finance.get(url).content.decode()
    listing = finance.get("/billing/finance/merchant/").content.decode()

    assert bad.status_code == 400 and "接口地址：格式不正确" in bad.content.decode()
    assert after_bad == 0
    assert (saved.status_code, kept.status_code) == (302, 302)
    assert SECRET not in page and f"已设置（尾号 {SECRET[-4:]}）" in page and APP_KEY in page
    assert "电子发票开放平台" in listing
    with schema_context("sichuan"):
        assert einvoice_settings() == ms.EInvoiceSettings(
            endpoint=ENDPOINT, app_key=APP_KEY, app_secret=SECRET, seller_tax_number=SELLER
        )
        assert SECRET not in MerchantAccount.objects.get(channel="einvoice").settings_encrypted
    with schema_context("sichuanb"):
        assert einvoice_settings() is None and isinstance(einvoice_provider(), ManualProvider)
    other = staff_client("sichuanb.localhost", "finance").get("/billing/finance/merchant/").content.decode()
    assert "手工开票（未接入平台）" in other and "电子发票开放平台" not in other


def test_the_look_alike_tenant_sees_none_of_sichuans_invoices_or_platform(tenant_a, tenant_b):
    _configure()
    ours = _paid_order("sichuan")
    theirs = _paid_order("sichuanb", serial=50)
    before = _state(ours["invoice"])
    finance_b = staff_client("sichuanb.localhost", "finance")

    listing = finance_b.get("/billing/finance/invoices/").content.decode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as gateway:
        platform = Platform(gateway, ISSUE, _issued())
        response = finance_b.post(f"/billing/finance/invoices/{theirs['invoice'].pk}/issue-electronic/")

    assert theirs["order"].number in listing and ours["order"].number not in listing
    assert "issue-electronic" not in listing
    assert response.status_code == 400 and "本协会未设置电子发票平台" in response.content.decode()
    assert platform.bodies == []
    assert _state(ours["invoice"]) == before
    assert _state(theirs["invoice"], "sichuanb")[0] == "requested"
    with schema_context("sichuanb"):
        assert not Order.objects.filter(number=ours["order"].number).exists()

"""Payment providers against the gateways' real formats, offline: notifies are built as WeChat Pay (v2 XML/MD5,
v3 RSA + AES-GCM), Alipay (RSA2 form) and Stripe (signed webhook) send them, signed with keys generated here,
and posted to /pay/notify/<channel>/ on the tenant's host. Outbound calls are mocked at the HTTP boundary
(`responses`; Alipay's http.client via DefaultAlipayClient.do_post). Every refusal changes nothing; the
look-alike tenant (sichuanb, its own keys) refuses sichuan's notifies."""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import responses
import stripe
import xmltodict
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa as crsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import override_settings
from django_tenants.utils import schema_context
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from billing import merchant_settings as ms
from billing.models import LedgerEntry, MerchantAccount, NotifyEvent, Order, Payment
from billing.providers import registry
from billing.providers.alipay import yuan_to_fen
from billing.providers.base import PaymentRequest
from billing.providers.offline import OfflineTransferProvider
from billing.providers.simulator import LABEL, SimulatorProvider
from billing.services import orders_create, payment_create
from tenant_configs.selectors import rules_current
from tests.conftest import host_client
from tests.integration.test_billing_orders import RULES, _approved, _company, _request

pytestmark = pytest.mark.django_db
HOSTS = {"sichuan": "sichuan.localhost", "sichuanb": "sichuanb.localhost"}
FEE = 80000  # one person, no materials


# --- keys --------------------------------------------------------------------------------------------------


@cache
def rsa_key(name: str) -> crsa.RSAPrivateKey:
    """RSA 2048 keys generated once per test run, by name (never committed)."""
    return crsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(name: str, *, pkcs8: bool = False) -> str:
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return rsa_key(name).private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def public_pem(name: str) -> str:
    return (
        rsa_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def bare(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def secret32(name: str) -> str:
    return (name * 32)[:32] if len(name) >= 1 else ""


# --- fixtures ----------------------------------------------------------------------------------------------

ALL_CHANNELS = ("wechat_native", "wechat_jsapi", "alipay_page", "alipay_qr", "stripe", "offline_transfer")


@pytest.fixture(autouse=True)
def every_channel_offered(monkeypatch):
    """sichuan offers WeChat Native, Alipay QR and transfers; here every channel is offered, in both tenants."""
    real = rules_current

    def rules_with_every_channel():
        rules = real()
        return rules.model_copy(
            update={"billing": rules.billing.model_copy(update={"channels": ALL_CHANNELS})}
        )

    monkeypatch.setattr(registry, "rules_current", rules_with_every_channel)


@pytest.fixture
def order_a(tenant_a):
    with schema_context("sichuan"):
        _, operator, persons = _company("成都监理", 1)
        applications = _approved(operator, persons, with_materials=False)
        order = orders_create(
            rules=RULES,
            rules_version=1,
            actor=operator,
            request=_request(applications, channel="wechat_native"),
        )[0]
    assert order.total_fen == FEE
    return {"order": order, "operator": operator}


def _payment(order_a, channel: str) -> Payment:
    with schema_context("sichuan"):
        return payment_create(order_id=order_a["order"].pk, actor=order_a["operator"], channel=channel)


def _state(out_trade_no: str) -> tuple:
    """Everything a notify may change, to assert that a refused one changed nothing."""
    with schema_context("sichuan"):
        payment = Payment.objects.select_related("order").get(out_trade_no=out_trade_no)
        return (
            payment.status,
            payment.provider_txn_id,
            payment.order.status,
            payment.order.needs_attention,
            NotifyEvent.objects.count(),
            LedgerEntry.objects.filter(kind="payment").count(),
        )


UNTOUCHED = ("created", "", "open", "", 0, 0)


# --- the gateways, as they sign ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Notify:
    body: bytes
    content_type: str
    headers: dict  # Django test-client META keys


class WechatV2:
    channel = "wechat_native"
    ack_ok = (
        200,
        "<xml>\n<return_code><![CDATA[SUCCESS]]></return_code>\n<return_msg><![CDATA[OK]]></return_msg>\n</xml>",
    )
    ack_fail = (
        200,
        "<xml>\n<return_code><![CDATA[FAIL]]></return_code>\n<return_msg><![CDATA[FAIL]]></return_msg>\n</xml>",
    )
    has_currency = True

    def settings(self, tenant: str):
        return ms.WechatV2Settings(
            appid=f"wx_{tenant}_app", mch_id=f"19000{len(tenant)}0109", api_key=secret32(f"v2{tenant}")
        )

    def notify(
        self,
        out_trade_no,
        *,
        tenant="sichuan",
        amount=FEE,
        currency="CNY",
        forged=False,
        other_merchant=False,
    ):
        merchant = self.settings(tenant)
        fields = {
            "appid": merchant.appid,
            "mch_id": "1900000999" if other_merchant else merchant.mch_id,
            "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "out_trade_no": out_trade_no,
            "transaction_id": f"42000000002024{out_trade_no[-10:]}",
            "total_fee": str(amount),
            "cash_fee": str(amount),
            "fee_type": currency,
            "trade_type": "NATIVE",
            "bank_type": "CMC",
            "is_subscribe": "N",
            "time_end": "20260601100004",
        }
        key = secret32("forger") if forged else merchant.api_key
        return Notify(dict_to_xml(fields, calculate_signature(fields, key)).encode(), "text/xml", {})


class WechatV3:
    channel = "wechat_jsapi"
    ack_ok = (200, '{"code": "SUCCESS"}')
    ack_fail = (400, '{"code": "FAIL", "message": "rejected"}')
    has_currency = True

    def settings(self, tenant: str):
        return ms.WechatV3Settings(
            appid=f"wx_{tenant}_mini",
            mchid=f"16{len(tenant)}0000001",
            private_key_pem=private_pem(f"v3-merchant-{tenant}"),
            cert_serial_no=f"444F4864EA9B34415{len(tenant)}",
            apiv3_key=secret32(f"v3{tenant}"),
            wechatpay_public_key_pem=public_pem(f"v3-platform-{tenant}"),
            wechatpay_public_key_id=f"PUB_KEY_ID_0114{len(tenant)}",
        )

    @staticmethod
    def signed_headers(body: str, *, key_name: str, serial: str) -> dict:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        signature = rsa_key(key_name).sign(
            f"{timestamp}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def notify(
        self,
        out_trade_no,
        *,
        tenant="sichuan",
        amount=FEE,
        currency="CNY",
        forged=False,
        other_merchant=False,
    ):
        merchant = self.settings(tenant)
        transaction = {
            "mchid": "1600000999" if other_merchant else merchant.mchid,
            "appid": merchant.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": f"42000000002026{out_trade_no[-10:]}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "CMC",
            "success_time": "2026-06-01T10:00:04+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {
                "total": amount,
                "payer_total": amount,
                "currency": currency,
                "payer_currency": currency,
            },
        }
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(merchant.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(transaction, ensure_ascii=False).encode(), b"transaction"
        )
        body = json.dumps(
            {
                "id": f"EV-{out_trade_no}",
                "create_time": "2026-06-01T10:00:05+08:00",
                "resource_type": "encrypt-resource",
                "event_type": "TRANSACTION.SUCCESS",
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            }
        )
        key_name = "v3-forger" if forged else f"v3-platform-{tenant}"
        headers = self.signed_headers(body, key_name=key_name, serial=merchant.wechatpay_public_key_id)
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        return Notify(body.encode(), "application/json", meta)


class Alipay:
    ack_ok = (200, "success")
    ack_fail = (200, "failure")
    has_currency = False  # domestic Alipay notifies carry no currency: always CNY

    def __init__(self, channel: str):
        self.channel = channel

    def settings(self, tenant: str):
        return ms.AlipaySettings(
            app_id=f"202100000000{len(tenant):04d}",
            app_private_key=private_pem(f"alipay-app-{tenant}", pkcs8=True),  # as Alipay's key tool hands out
            alipay_public_key=public_pem(f"alipay-platform-{tenant}"),
            seller_id=f"20880000000{len(tenant):05d}",
        )

    def notify(
        self,
        out_trade_no,
        *,
        tenant="sichuan",
        amount=FEE,
        currency="CNY",
        forged=False,
        other_merchant=False,
        total=None,
    ):
        merchant = self.settings(tenant)
        params = {
            "gmt_create": "2026-06-01 10:00:00",
            "charset": "utf-8",
            "seller_email": "finance@example.cn",
            "subject": "四川省建设工程质量安全与监理协会 培训费 1 人",
            "buyer_id": "2088102177846880",
            "invoice_amount": f"{amount / 100:.2f}",
            "notify_id": f"2026060100222100004{out_trade_no[-10:]}",
            "fund_bill_list": json.dumps(
                [{"amount": f"{amount / 100:.2f}", "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
            ),
            "notify_type": "trade_status_sync",
            "trade_status": "TRADE_SUCCESS",
            "receipt_amount": f"{amount / 100:.2f}",
            "app_id": merchant.app_id,
            "buyer_pay_amount": f"{amount / 100:.2f}",
            "sign_type": "RSA2",
            "seller_id": "2088000000099999" if other_merchant else merchant.seller_id,
            "gmt_payment": "2026-06-01 10:00:04",
            "notify_time": "2026-06-01 10:00:05",
            "version": "1.0",
            "out_trade_no": out_trade_no,
            "total_amount": total or f"{amount / 100:.2f}",
            "trade_no": f"2026060122001446880{out_trade_no[-10:]}",
            "auth_app_id": merchant.app_id,
            "point_amount": "0.00",
        }
        unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
        key_name = "alipay-forger" if forged else f"alipay-platform-{tenant}"
        params["sign"] = sign_with_rsa2(bare(private_pem(key_name)), get_sign_content(unsigned), "utf-8")
        return Notify(urlencode(params).encode(), "application/x-www-form-urlencoded", {})


class Stripe:
    channel = "stripe"
    ack_ok = (200, '{"received": true}')
    ack_fail = (400, '{"received": false}')
    has_currency = True

    def settings(self, tenant: str):
        return ms.StripeSettings(
            secret_key=f"sk_test_{tenant}", webhook_secret=f"whsec_{tenant}_{secret32(tenant)}"
        )

    def notify(
        self,
        out_trade_no,
        *,
        tenant="sichuan",
        amount=FEE,
        currency="CNY",
        forged=False,
        other_merchant=False,
    ):
        merchant = self.settings(tenant)
        metadata = {"tenant": "sichuanb" if other_merchant else tenant, "out_trade_no": out_trade_no}
        event = {
            "id": f"evt_{out_trade_no}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "type": "checkout.session.completed",
            "livemode": False,
            "data": {
                "object": {
                    "id": f"cs_test_{out_trade_no}",
                    "object": "checkout.session",
                    "client_reference_id": out_trade_no,
                    "amount_total": amount,
                    "currency": currency.lower(),
                    "payment_status": "paid",
                    "status": "complete",
                    "payment_intent": f"pi_{out_trade_no}",
                    "metadata": metadata,
                }
            },
        }
        payload = json.dumps(event)
        secret = "whsec_forger" if forged else merchant.webhook_secret
        header = stripe.WebhookSignature.generate_signature_header(payload, secret)
        return Notify(payload.encode(), "application/json", {"HTTP_STRIPE_SIGNATURE": header})


GATEWAYS = [WechatV2(), WechatV3(), Alipay("alipay_qr"), Alipay("alipay_page"), Stripe()]
GATEWAY_IDS = ["wechat_v2_native", "wechat_v3_jsapi", "alipay_qr", "alipay_page", "stripe"]


def _configure(gateway, *tenants: str) -> None:
    for tenant in tenants:
        with schema_context(tenant):
            ms.merchant_settings_save(gateway.channel, gateway.settings(tenant))


def _post(notify: Notify, channel: str, host: str = "sichuan.localhost"):
    response = host_client(host).post(
        f"/pay/notify/{channel}/", data=notify.body, content_type=notify.content_type, **notify.headers
    )
    return response.status_code, response.content.decode()


# --- notifies ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gateway", GATEWAYS, ids=GATEWAY_IDS)
def test_a_genuine_notify_pays_the_order_once_however_often_it_arrives(gateway, order_a):
    _configure(gateway, "sichuan", "sichuanb")
    payment = _payment(order_a, gateway.channel)
    notify = gateway.notify(payment.out_trade_no)

    first = _post(notify, gateway.channel)
    again = _post(notify, gateway.channel)

    assert first == again == gateway.ack_ok
    with schema_context("sichuan"):
        payment.refresh_from_db()
        assert (payment.status, payment.received_fen, Order.objects.get(pk=payment.order_id).status) == (
            "confirmed",
            FEE,
            "paid",
        )
        assert payment.provider_txn_id
        assert list(NotifyEvent.objects.values_list("outcome", flat=True)) == ["confirmed"]
        assert LedgerEntry.objects.filter(kind="payment").count() == 1


@pytest.mark.parametrize("gateway", GATEWAYS, ids=GATEWAY_IDS)
@pytest.mark.parametrize("wrong", ["forged", "other_merchant"])
def test_a_forged_notify_or_another_merchants_is_refused_and_changes_nothing(gateway, wrong, order_a):
    _configure(gateway, "sichuan")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify(payment.out_trade_no, **{wrong: True}), gateway.channel)

    assert answer == gateway.ack_fail
    assert _state(payment.out_trade_no) == UNTOUCHED


@pytest.mark.parametrize("gateway", GATEWAYS, ids=GATEWAY_IDS)
def test_a_notify_for_sichuan_posted_to_the_look_alike_tenant_is_refused_there(gateway, order_a, tenant_b):
    _configure(gateway, "sichuan", "sichuanb")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify(payment.out_trade_no), gateway.channel, host="sichuanb.localhost")

    assert answer == gateway.ack_fail
    assert _state(payment.out_trade_no) == UNTOUCHED
    with schema_context("sichuanb"):
        assert not NotifyEvent.objects.exists()


@pytest.mark.parametrize("gateway", GATEWAYS, ids=GATEWAY_IDS)
def test_a_genuine_notify_with_another_amount_is_acknowledged_and_flagged_not_paid(gateway, order_a):
    _configure(gateway, "sichuan")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify(payment.out_trade_no, amount=100), gateway.channel)

    assert answer == gateway.ack_ok
    assert _state(payment.out_trade_no) == ("created", "", "open", "amount_mismatch:100CNY", 1, 0)


@pytest.mark.parametrize(
    "gateway", [g for g in GATEWAYS if g.has_currency], ids=["wechat_v2", "wechat_v3", "stripe"]
)
def test_a_genuine_notify_in_another_currency_is_flagged_not_paid(gateway, order_a):
    _configure(gateway, "sichuan")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify(payment.out_trade_no, currency="USD"), gateway.channel)

    assert answer == gateway.ack_ok
    assert _state(payment.out_trade_no) == ("created", "", "open", f"amount_mismatch:{FEE}USD", 1, 0)


@pytest.mark.parametrize("gateway", GATEWAYS, ids=GATEWAY_IDS)
def test_a_genuine_notify_for_an_unknown_trade_changes_no_payment(gateway, order_a):
    _configure(gateway, "sichuan")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify("ZZ20260601000000001"), gateway.channel)

    assert answer == gateway.ack_ok  # genuine: a retry would not make it known
    with schema_context("sichuan"):
        assert list(NotifyEvent.objects.values_list("outcome", flat=True)) == ["unknown_payment"]
    assert _state(payment.out_trade_no)[:4] == UNTOUCHED[:4]


def test_alipay_amounts_must_have_at_most_two_decimals(order_a):
    gateway = Alipay("alipay_qr")
    _configure(gateway, "sichuan")
    payment = _payment(order_a, gateway.channel)

    answer = _post(gateway.notify(payment.out_trade_no, total="800.001"), gateway.channel)

    assert answer == gateway.ack_fail
    assert _state(payment.out_trade_no) == UNTOUCHED
    assert [yuan_to_fen(value) for value in ("800.00", "0.01", "12")] == [80000, 1, 1200]
    for value in ("800.001", "1e3", "-1.00", "NaN", ""):
        with pytest.raises(ValueError):
            yuan_to_fen(value)


def test_an_unknown_or_unoffered_channel_has_no_notify_endpoint(tenant_a):
    client = host_client("sichuan.localhost")
    assert client.post("/pay/notify/paypal/", data=b"x", content_type="text/plain").status_code == 404
    with override_settings(PAYMENT_SIMULATOR=False):
        # Offered, but no merchant keys and no simulator: nothing to verify with.
        assert (
            client.post("/pay/notify/stripe/", data=b"{}", content_type="application/json").status_code == 404
        )
    offline = client.post("/pay/notify/offline_transfer/", data=b"x", content_type="text/plain")
    assert (offline.status_code, offline.content) == (400, b"unsupported")


# --- starting a payment (outbound calls mocked at the HTTP boundary) -----------------------------------------


def _request_for(payment: Payment, **overrides) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=payment.out_trade_no,
        amount_fen=payment.amount_fen,
        currency=payment.currency,
        subject="四川省建设工程质量安全与监理协会 培训费 1 人",
        notify_url=f"https://sichuan.localhost/pay/notify/{payment.channel}/",
        return_url="https://sichuan.localhost/billing/orders/1/",
        expires_at_iso="2026-06-02T10:00:00+08:00",
        client_ip="10.0.0.8",
        **overrides,
    )


def _wechat_v2_reply(fields: dict, api_key: str) -> str:
    return dict_to_xml(fields, calculate_signature(fields, api_key))


def test_wechat_v2_native_and_jsapi_start_with_signed_unifiedorder_calls(order_a):
    gateway = WechatV2()
    merchant = gateway.settings("sichuan")
    with schema_context("sichuan"):
        for channel in ("wechat_native", "wechat_jsapi"):
            ms.merchant_settings_save(channel, merchant)
        native_payment = _payment(order_a, "wechat_native")
        jsapi_payment = _payment(order_a, "wechat_jsapi")
        with responses.RequestsMock() as gateway_http:
            url = "https://api.mch.weixin.qq.com/pay/unifiedorder"
            base = {
                "return_code": "SUCCESS",
                "result_code": "SUCCESS",
                "appid": merchant.appid,
                "mch_id": merchant.mch_id,
            }
            gateway_http.add(
                responses.POST,
                url,
                body=_wechat_v2_reply(
                    {
                        **base,
                        "trade_type": "NATIVE",
                        "prepay_id": "wx1",
                        "code_url": "weixin://wxpay/bizpayurl?pr=abc",
                    },
                    merchant.api_key,
                ),
            )
            gateway_http.add(
                responses.POST,
                url,
                body=_wechat_v2_reply(
                    {**base, "trade_type": "JSAPI", "prepay_id": "wx2017033010242291fcfe0db70013231072"},
                    merchant.api_key,
                ),
            )

            native = registry.provider_for("wechat_native").start(_request_for(native_payment))
            jsapi = registry.provider_for("wechat_jsapi").start(
                _request_for(jsapi_payment, payer_openid="oUpF8uMu")
            )

            sent = [xmltodict.parse(call.request.body)["xml"] for call in gateway_http.calls]
    assert (native.kind, native.qr_content) == ("qr", "weixin://wxpay/bizpayurl?pr=abc")
    assert [(s["trade_type"], s["total_fee"], s["time_expire"], s["spbill_create_ip"]) for s in sent] == [
        ("NATIVE", str(FEE), "20260602100000", "10.0.0.8"),
        ("JSAPI", str(FEE), "20260602100000", "10.0.0.8"),
    ]
    assert sent[1]["openid"] == "oUpF8uMu"
    for fields in sent:
        signature = fields.pop("sign")
        assert signature == calculate_signature(fields, merchant.api_key)
    params = dict(jsapi.jsapi_params)
    pay_sign = params.pop("paySign")
    assert jsapi.kind == "jsapi" and params["package"] == "prepay_id=wx2017033010242291fcfe0db70013231072"
    assert pay_sign == calculate_signature(params, merchant.api_key)


def test_wechat_v3_native_start_verifies_the_gateways_signed_answer(order_a):
    gateway = WechatV3()
    merchant = gateway.settings("sichuan")
    with schema_context("sichuan"):
        ms.merchant_settings_save("wechat_native", merchant)
        payment = _payment(order_a, "wechat_native")
        provider = registry.provider_for("wechat_native")
        body = json.dumps({"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"})
        with responses.RequestsMock() as gateway_http:
            gateway_http.add(
                responses.POST,
                "https://api.mch.weixin.qq.com/v3/pay/transactions/native",
                body=body,
                headers=WechatV3.signed_headers(
                    body, key_name="v3-platform-sichuan", serial=merchant.wechatpay_public_key_id
                ),
                content_type="application/json",
            )
            action = provider.start(_request_for(payment))
            sent = json.loads(gateway_http.calls[0].request.body)
            authorization = gateway_http.calls[0].request.headers["Authorization"]
    assert (action.kind, action.qr_content) == ("qr", "weixin://wxpay/bizpayurl?pr=p4lpSuKzz")
    assert (
        sent["amount"] == {"total": FEE, "currency": "CNY"}
        and sent["time_expire"] == "2026-06-02T10:00:00+08:00"
    )
    assert authorization.startswith(f'WECHATPAY2-SHA256-RSA2048 mchid="{merchant.mchid}"')


def test_alipay_page_pay_is_a_signed_url_and_qr_precreate_checks_the_answers_signature(order_a):
    gateway = Alipay("alipay_page")
    merchant = gateway.settings("sichuan")
    assert "BEGIN" not in merchant.app_private_key and merchant.app_private_key != bare(
        private_pem("alipay-app-sichuan", pkcs8=True)
    )  # PKCS#8 converted to PKCS#1 for the SDK
    with schema_context("sichuan"):
        for channel in ("alipay_page", "alipay_qr"):
            ms.merchant_settings_save(channel, merchant)
        page_payment, qr_payment = _payment(order_a, "alipay_page"), _payment(order_a, "alipay_qr")

        page = registry.provider_for("alipay_page").start(_request_for(page_payment))

        answer = json.dumps(
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": qr_payment.out_trade_no,
                "qr_code": "https://qr.alipay.com/bax01",
            },
            separators=(",", ":"),
        )
        signature = sign_with_rsa2(bare(private_pem("alipay-platform-sichuan")), answer, "utf-8")
        signed = f'{{"alipay_trade_precreate_response":{answer},"sign":"{signature}"}}'
        with mock.patch("alipay.aop.api.DefaultAlipayClient.do_post", return_value=signed.encode()) as post:
            qr = registry.provider_for("alipay_qr").start(_request_for(qr_payment))
        with mock.patch(
            "alipay.aop.api.DefaultAlipayClient.do_post",
            return_value=signed.replace("bax01", "bax99").encode(),
        ):
            with pytest.raises(Exception, match="sign"):
                registry.provider_for("alipay_qr").start(_request_for(qr_payment))
    query = dict(parse_qsl(urlsplit(page.url).query))
    signature = query.pop("sign")
    assert page.kind == "redirect" and verify_with_rsa(
        bare(public_pem("alipay-app-sichuan")), get_sign_content(query).encode(), signature
    )
    biz = json.loads(query["biz_content"])
    assert (biz["total_amount"], biz["time_expire"], query["notify_url"]) == (
        "800.00",
        "2026-06-02 10:00:00",
        "https://sichuan.localhost/pay/notify/alipay_page/",
    )
    assert (qr.kind, qr.qr_content) == ("qr", "https://qr.alipay.com/bax01")
    assert "alipay.trade.precreate" in str(post.call_args)


def test_stripe_start_creates_a_checkout_session_for_this_tenant(order_a):
    gateway = Stripe()
    with schema_context("sichuan"):
        ms.merchant_settings_save("stripe", gateway.settings("sichuan"))
        payment = _payment(order_a, "stripe")
        with responses.RequestsMock() as gateway_http:
            gateway_http.add(
                responses.POST,
                "https://api.stripe.com/v1/checkout/sessions",
                json={
                    "id": "cs_test_123",
                    "object": "checkout.session",
                    "url": "https://checkout.stripe.com/c/pay/cs_test_123",
                },
            )
            action = registry.provider_for("stripe").start(_request_for(payment))
            sent = dict(parse_qsl(gateway_http.calls[0].request.body))
            idempotency = gateway_http.calls[0].request.headers["Idempotency-Key"]
    assert (action.kind, action.url) == ("redirect", "https://checkout.stripe.com/c/pay/cs_test_123")
    assert (
        sent["client_reference_id"],
        sent["line_items[0][price_data][unit_amount]"],
        sent["metadata[tenant]"],
    ) == (
        payment.out_trade_no,
        str(FEE),
        "sichuan",
    )
    assert idempotency == f"sichuan-{payment.out_trade_no}-checkout"


def test_offline_transfer_shows_the_bank_details_and_the_orders_reference(order_a):
    with schema_context("sichuan"):
        payment = _payment(order_a, "offline_transfer")
        provider = registry.provider_for("offline_transfer")
        action = provider.start(_request_for(payment))
    assert isinstance(provider, OfflineTransferProvider)
    assert action.kind == "transfer"
    assert action.instructions == {
        "bank_account_name": "四川省建设工程质量安全与监理协会",
        "bank_name": "中国建设银行成都城北支行",
        "account_number": "51001234567890123456",
        "reference": order_a["order"].reference,
        "amount_fen": FEE,
        "currency": "CNY",
        "proof_required": False,
    }


# --- merchant settings -------------------------------------------------------------------------------------


def test_merchant_settings_are_encrypted_at_rest_and_fit_their_channel(tenant_a):
    merchant = WechatV2().settings("sichuan")
    with schema_context("sichuan"):
        ms.merchant_settings_save("wechat_native", merchant)
        stored = MerchantAccount.objects.get(channel="wechat_native").settings_encrypted
        loaded = ms.merchant_settings_load("wechat_native")
        with pytest.raises(ValueError):
            ms.merchant_settings_save("stripe", merchant)
        assert ms.merchant_settings_load("alipay_qr") is None
    assert merchant.api_key not in stored and merchant.mch_id not in stored
    assert loaded == merchant
    with override_settings(SECRET_KEY="another-secret"), pytest.raises(ValueError, match="decrypted"):
        ms.merchant_settings_decrypt(stored)


# --- the simulator -----------------------------------------------------------------------------------------


@pytest.fixture
def simulated(order_a):
    payment = _payment(order_a, "wechat_native")  # sichuan has no merchant keys: the simulator serves it
    with schema_context("sichuan"):
        assert isinstance(registry.provider_for("wechat_native"), SimulatorProvider)
    return payment


@override_settings(PAYMENT_SIMULATOR=True)
def test_the_simulator_page_is_labelled_and_paying_there_sends_a_signed_notify(simulated):
    client = host_client("sichuan.localhost")
    with schema_context("sichuan"):
        action = registry.provider_for("wechat_native").start(_request_for(simulated))
    page_path = urlsplit(action.qr_content).path

    page = client.get(page_path)
    paid = client.post(page_path, {"outcome": "pay", "return": "/billing/orders/1/"})
    twice = client.post(page_path, {"outcome": "pay", "return": "https://evil.example/"})

    assert action.kind == "qr" and action.qr_content.startswith("https://sichuan.localhost/pay/simulator/")
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        LABEL in html
        and "800.00" in html
        and "<svg" in html
        and "模拟支付成功" in html
        and "模拟支付失败" in html
    )
    assert (paid.status_code, paid["Location"]) == (302, "/billing/orders/1/")
    assert twice["Location"] == page_path  # never redirects off the tenant's host
    with schema_context("sichuan"):
        simulated.refresh_from_db()
        assert (simulated.status, simulated.provider_txn_id) == ("confirmed", f"SIM{simulated.out_trade_no}")
        assert Order.objects.get(pk=simulated.order_id).status == "paid"
        event = NotifyEvent.objects.get()
        assert (
            event.outcome == "confirmed" and "<sign>" in event.payload
        )  # went through the signed notify path
        assert (
            registry.provider_for("wechat_native").query(out_trade_no=simulated.out_trade_no).status
            == "success"
        )


@override_settings(PAYMENT_SIMULATOR=True)
def test_a_simulated_failure_pays_nothing(simulated):
    client = host_client("sichuan.localhost")
    response = client.post(f"/pay/simulator/{simulated.out_trade_no}/", {"outcome": "fail"})

    assert response.status_code == 302
    assert _state(simulated.out_trade_no) == ("created", "", "open", "", 1, 0)
    with schema_context("sichuan"):
        assert NotifyEvent.objects.get().outcome == "ignored"
        assert (
            registry.provider_for("wechat_native").query(out_trade_no=simulated.out_trade_no).status
            == "pending"
        )


@override_settings(PAYMENT_SIMULATOR=True)
def test_a_simulated_notify_of_one_tenant_is_refused_by_the_look_alike(simulated, tenant_b):
    with schema_context("sichuan"):
        body = registry.provider_for("wechat_native").notify_body(
            out_trade_no=simulated.out_trade_no, amount_fen=FEE, currency="CNY", paid=True
        )

    answer = _post(Notify(body, "text/xml", {}), "wechat_native", host="sichuanb.localhost")

    assert answer == WechatV2.ack_fail
    assert _state(simulated.out_trade_no) == UNTOUCHED


def test_the_simulator_is_gone_when_disabled_or_when_the_tenant_has_real_keys(simulated):
    client = host_client("sichuan.localhost")
    path = f"/pay/simulator/{simulated.out_trade_no}/"
    with override_settings(PAYMENT_SIMULATOR=False):
        assert client.get(path).status_code == 404
        assert client.post(path, {"outcome": "pay"}).status_code == 404
        with schema_context("sichuan"):
            assert registry.provider_for("wechat_native") is None
    with override_settings(PAYMENT_SIMULATOR=True):
        _configure(WechatV2(), "sichuan")
        assert client.post(path, {"outcome": "pay"}).status_code == 404
    assert _state(simulated.out_trade_no) == UNTOUCHED

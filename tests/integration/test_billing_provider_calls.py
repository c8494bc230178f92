"""What our providers send to the gateways and how they read the answers, mocked at the HTTP boundary only:
`responses` for WeChat Pay v2 (XML + MD5), WeChat Pay v3 (JSON, RSA-signed answers) and Stripe (requests),
DefaultAlipayClient.do_post for Alipay (http.client). Every answer is in the gateway's real format and signed
with keys generated here; an answer with a bad signature is a GatewayError, never a result.

Query, close, refund and query_refund for each gateway; then the refund notifications (WeChat v2 req_info,
WeChat v3 RSA + AES-GCM resource, Stripe refund.updated / charge.refunded) posted to the notify endpoint and
applied through refund_apply_result, once, in sichuan only — the look-alike tenant refuses them."""

import base64
import datetime
import hashlib
import json
import secrets
from urllib.parse import parse_qsl

import pytest
import responses
import stripe
import xmltodict
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from django_tenants.utils import schema_context
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from billing import merchant_settings as ms
from billing.models import LedgerEntry, NotifyEvent, Payment, Refund
from billing.providers import registry
from billing.providers.base import GatewayError, PaymentRequest, PaymentResult
from billing.services import (
    orders_create,
    payment_apply_result,
    payment_create,
    payment_start,
    refund_decide,
    refund_execute,
    refund_request,
)
from shared.accounts.models import User
from tenant_configs.selectors import rules_current
from tests.conftest import host_client
from tests.factories import StaffFactory
from tests.integration.test_billing_orders import RULES, _approved, _company, _request
from tests.integration.test_billing_providers import (
    FEE,
    Alipay,
    Stripe,
    WechatV2,
    WechatV3,
    bare,
    private_pem,
    rsa_key,
)

pytestmark = pytest.mark.django_db
ALL_CHANNELS = ("wechat_native", "wechat_jsapi", "alipay_page", "alipay_qr", "stripe", "offline_transfer")
V2 = "https://api.mch.weixin.qq.com/"
V3 = "https://api.mch.weixin.qq.com/v3"
STRIPE = "https://api.stripe.com/v1"


@pytest.fixture(autouse=True)
def every_channel_offered(monkeypatch):
    real = rules_current

    def rules_with_every_channel():
        rules = real()
        return rules.model_copy(
            update={"billing": rules.billing.model_copy(update={"channels": ALL_CHANNELS})}
        )

    monkeypatch.setattr(registry, "rules_current", rules_with_every_channel)


@pytest.fixture
def order_a(tenant_a, tenant_b):
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


def _configure(channel: str, merchant) -> None:
    with schema_context("sichuan"):
        ms.merchant_settings_save(channel, merchant)


def _provider(channel: str):
    with schema_context("sichuan"):
        return registry.provider_for(channel)


def _payment(order_a, channel: str) -> Payment:
    with schema_context("sichuan"):
        return payment_create(order_id=order_a["order"].pk, actor=order_a["operator"], channel=channel)


def _paid(order_a, channel: str, *, txn: str) -> Payment:
    payment = _payment(order_a, channel)
    with schema_context("sichuan"):
        result = PaymentResult(payment.out_trade_no, "success", FEE, "CNY", txn)
        assert payment_apply_result(channel=channel, result=result, source="test") == "confirmed"
        return Payment.objects.get(pk=payment.pk)


def _approved_refund(order_a, channel: str, *, txn: str) -> Refund:
    """A confirmed payment with a full refund requested by finance and approved by a second person."""
    payment = _paid(order_a, channel, txn=txn)
    with schema_context("sichuan"):
        requester = User.objects.get(username="finance")
        approver = StaffFactory(username="caiwu2", staff_roles=["finance"])
        refund = refund_request(
            payment_id=payment.pk, actor=requester, amount_fen=FEE, reason="已缴费未参加培训"
        )
        refund_decide(refund_id=refund.pk, actor=approver, approve=True)
        return Refund.objects.select_related("payment").get(pk=refund.pk)


def _refund_state(refund: Refund) -> tuple:
    with schema_context("sichuan"):
        fresh = Refund.objects.get(pk=refund.pk)
        return (
            fresh.status,
            fresh.provider_refund_id,
            LedgerEntry.objects.filter(kind="refund").count(),
            NotifyEvent.objects.count(),
        )


def _post(body: bytes, content_type: str, channel: str, host: str = "sichuan.localhost", **meta):
    response = host_client(host).post(f"/pay/notify/{channel}/", data=body, content_type=content_type, **meta)
    return response.status_code, response.content.decode()


# =========================================================================================================
# WeChat Pay v2: XML signed with the MD5 API key; refunds use the merchant's client certificate
# =========================================================================================================


def _client_certificate() -> tuple[str, str]:
    """A self-signed apiclient certificate and key, like the merchant platform hands out."""
    key = rsa_key("v2-apiclient")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "1900060109")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), private_pem("v2-apiclient")


def _v2_merchant(*, with_certificate: bool = True) -> ms.WechatV2Settings:
    merchant = WechatV2().settings("sichuan")
    if not with_certificate:
        return merchant
    cert, key = _client_certificate()
    return merchant.model_copy(update={"client_cert_pem": cert, "client_key_pem": key})


def _v2_reply(merchant, **fields) -> str:
    data = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": merchant.appid,
        "mch_id": merchant.mch_id,
        "nonce_str": secrets.token_hex(8),
        **fields,
    }
    return dict_to_xml(data, calculate_signature(data, merchant.api_key))


def _v2_sent(call) -> dict:
    """The XML we sent, after checking that it is signed with the merchant's API key."""
    fields = dict(xmltodict.parse(call.request.body)["xml"])
    signature = fields.pop("sign")
    assert signature == calculate_signature(fields, _v2_merchant().api_key)
    return fields


def test_wechat_v2_query_reads_the_trade_state_and_an_unknown_trade(order_a):
    merchant = _v2_merchant()
    _configure("wechat_native", merchant)
    payment = _payment(order_a, "wechat_native")
    provider = _provider("wechat_native")
    with responses.RequestsMock() as gateway:
        gateway.add(
            responses.POST,
            V2 + "pay/orderquery",
            body=_v2_reply(
                merchant,
                result_code="SUCCESS",
                out_trade_no=payment.out_trade_no,
                transaction_id="4200000000202606010000000001",
                trade_state="SUCCESS",
                total_fee=str(FEE),
                fee_type="CNY",
            ),
        )
        gateway.add(
            responses.POST,
            V2 + "pay/orderquery",
            body=_v2_reply(
                merchant, result_code="FAIL", err_code="ORDERNOTEXIST", err_code_des="此交易订单号不存在"
            ),
        )

        paid = provider.query(out_trade_no=payment.out_trade_no)
        unknown = provider.query(out_trade_no="ZZ000")

        sent = _v2_sent(gateway.calls[0])
    assert paid == PaymentResult(payment.out_trade_no, "success", FEE, "CNY", "4200000000202606010000000001")
    assert (unknown.status, unknown.amount_fen) == ("unknown", None)
    assert (sent["out_trade_no"], sent["mch_id"], sent["appid"]) == (
        payment.out_trade_no,
        merchant.mch_id,
        merchant.appid,
    )


def test_wechat_v2_close_accepts_an_already_closed_trade_and_reports_a_gateway_error(order_a):
    merchant = _v2_merchant()
    _configure("wechat_native", merchant)
    payment = _payment(order_a, "wechat_native")
    provider = _provider("wechat_native")
    with responses.RequestsMock() as gateway:
        gateway.add(responses.POST, V2 + "pay/closeorder", body=_v2_reply(merchant, result_code="SUCCESS"))
        gateway.add(
            responses.POST,
            V2 + "pay/closeorder",
            body=_v2_reply(merchant, result_code="FAIL", err_code="ORDERCLOSED", err_code_des="订单已关闭"),
        )
        gateway.add(
            responses.POST,
            V2 + "pay/closeorder",
            body=_v2_reply(merchant, result_code="FAIL", err_code="SYSTEMERROR", err_code_des="系统错误"),
        )

        assert provider.close(out_trade_no=payment.out_trade_no) is None
        assert provider.close(out_trade_no=payment.out_trade_no) is None
        with pytest.raises(GatewayError, match="SYSTEMERROR"):
            provider.close(out_trade_no=payment.out_trade_no)

        assert _v2_sent(gateway.calls[0])["out_trade_no"] == payment.out_trade_no


def test_wechat_v2_refund_goes_with_the_client_certificate_and_query_refund_reads_the_outcome(order_a):
    merchant = _v2_merchant()
    _configure("wechat_native", merchant)
    refund = _approved_refund(order_a, "wechat_native", txn="4200000000202606010000000002")
    provider = _provider("wechat_native")
    with responses.RequestsMock() as gateway:
        gateway.add(
            responses.POST,
            V2 + "secapi/pay/refund",
            body=_v2_reply(
                merchant,
                result_code="SUCCESS",
                out_trade_no=refund.payment.out_trade_no,
                out_refund_no=refund.out_refund_no,
                refund_id="50000000382019052709732678859",
                refund_fee=str(FEE),
                total_fee=str(FEE),
                cash_fee=str(FEE),
            ),
        )
        gateway.add(
            responses.POST,
            V2 + "pay/refundquery",
            body=_v2_reply(
                merchant,
                result_code="SUCCESS",
                out_trade_no=refund.payment.out_trade_no,
                refund_count="1",
                out_refund_no_0=refund.out_refund_no,
                refund_id_0="50000000382019052709732678859",
                refund_fee_0=str(FEE),
                refund_status_0="SUCCESS",
                refund_success_time_0="2026-06-02 10:00:00",
            ),
        )

        with schema_context("sichuan"):
            executed = refund_execute(refund_id=refund.pk, provider=provider)
        queried = provider.query_refund(out_refund_no=refund.out_refund_no)

        sent = _v2_sent(gateway.calls[0])
        certificate, key = gateway.calls[0].request.req_kwargs["cert"]
    assert (executed.status, executed.provider_refund_id) == (
        "approved",
        "",
    )  # accepted; the notify finishes it
    assert (sent["out_refund_no"], sent["refund_fee"], sent["total_fee"], sent["out_trade_no"]) == (
        refund.out_refund_no,
        str(FEE),
        str(FEE),
        refund.payment.out_trade_no,
    )
    assert certificate.endswith("cert.pem") and key.endswith("key.pem")
    assert (queried.status, queried.amount_fen, queried.provider_refund_id) == (
        "success",
        FEE,
        "50000000382019052709732678859",
    )


def test_wechat_v2_refund_without_the_client_certificate_calls_nobody(order_a):
    _configure("wechat_native", _v2_merchant(with_certificate=False))
    refund = _approved_refund(order_a, "wechat_native", txn="4200000000202606010000000003")
    with responses.RequestsMock() as gateway, schema_context("sichuan"):
        failed = refund_execute(refund_id=refund.pk, provider=registry.provider_for("wechat_native"))
        assert len(gateway.calls) == 0
    assert (failed.status, failed.decision_note) == (
        "failed",
        "refunds need the merchant's apiclient certificate and key",
    )


def _v2_refund_notify(merchant, refund: Refund, *, api_key: str | None = None) -> bytes:
    """WeChat's refund notify: req_info = base64(AES-256-ECB(md5(api_key) hex, PKCS7(<root>…</root>)))."""
    info = {
        "transaction_id": refund.payment.provider_txn_id,
        "out_trade_no": refund.payment.out_trade_no,
        "refund_id": "50000000382019052709732678860",
        "out_refund_no": refund.out_refund_no,
        "total_fee": str(FEE),
        "refund_fee": str(FEE),
        "settlement_refund_fee": str(FEE),
        "refund_status": "SUCCESS",
        "success_time": "2026-06-02 10:00:00",
        "refund_recv_accout": "支付用户零钱",
        "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
        "refund_request_source": "API",
    }
    plain = ("<root>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in info.items()) + "</root>").encode()
    pad = 32 - len(plain) % 32
    key = hashlib.md5((api_key or merchant.api_key).encode()).hexdigest().encode()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    req_info = base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()
    outer = {
        "return_code": "SUCCESS",
        "appid": merchant.appid,
        "mch_id": merchant.mch_id,
        "nonce_str": secrets.token_hex(8),
        "req_info": req_info,
    }
    return dict_to_xml(outer).encode()


def test_wechat_v2_refund_notify_is_decrypted_and_finishes_the_refund_once(order_a):
    merchant = _v2_merchant()
    _configure("wechat_native", merchant)
    refund = _approved_refund(order_a, "wechat_native", txn="4200000000202606010000000004")
    forged = _v2_refund_notify(merchant, refund, api_key="f" * 32)
    genuine = _v2_refund_notify(merchant, refund)

    refused = _post(forged, "text/xml", "wechat_native")
    assert _refund_state(refund) == ("approved", "", 0, 0)
    first = _post(genuine, "text/xml", "wechat_native")
    again = _post(genuine, "text/xml", "wechat_native")

    assert "FAIL" in refused[1]
    assert "SUCCESS" in first[1] and first == again
    assert _refund_state(refund) == ("refunded", "50000000382019052709732678860", 1, 1)


# =========================================================================================================
# WeChat Pay v3: JSON, answers signed with the WeChat Pay public key, notify resources AES-256-GCM
# =========================================================================================================


def _v3_answer(body: str, *, key_name: str = "v3-platform-sichuan") -> dict:
    merchant = WechatV3().settings("sichuan")
    return WechatV3.signed_headers(body, key_name=key_name, serial=merchant.wechatpay_public_key_id)


def _v3_add(gateway, method, path: str, payload: dict | None, *, status: int = 200, **kwargs) -> None:
    body = json.dumps(payload, ensure_ascii=False) if payload is not None else ""
    gateway.add(
        method,
        V3 + path,
        body=body,
        status=status,
        headers=_v3_answer(body, **kwargs),
        content_type="application/json",
    )


def _v3_transaction(merchant, out_trade_no: str, state: str = "SUCCESS") -> dict:
    return {
        "appid": merchant.appid,
        "mchid": merchant.mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200000000202606010000000011",
        "trade_type": "JSAPI",
        "trade_state": state,
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "success_time": "2026-06-01T10:00:04+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": FEE, "payer_total": FEE, "currency": "CNY", "payer_currency": "CNY"},
    }


def test_wechat_v3_query_verifies_the_answers_signature(order_a):
    merchant = WechatV3().settings("sichuan")
    _configure("wechat_jsapi", merchant)
    payment = _payment(order_a, "wechat_jsapi")
    provider = _provider("wechat_jsapi")
    path = f"/pay/transactions/out-trade-no/{payment.out_trade_no}"
    with responses.RequestsMock() as gateway:
        _v3_add(gateway, responses.GET, path, _v3_transaction(merchant, payment.out_trade_no))
        _v3_add(
            gateway,
            responses.GET,
            "/pay/transactions/out-trade-no/ZZ000",
            {"code": "ORDER_NOT_EXIST", "message": "订单不存在"},
            status=404,
        )
        _v3_add(
            gateway,
            responses.GET,
            path,
            _v3_transaction(merchant, payment.out_trade_no),
            key_name="v3-forger",
        )

        paid = provider.query(out_trade_no=payment.out_trade_no)
        unknown = provider.query(out_trade_no="ZZ000")
        with pytest.raises(GatewayError, match="signature"):
            provider.query(out_trade_no=payment.out_trade_no)

        request = gateway.calls[0].request
    assert paid == PaymentResult(payment.out_trade_no, "success", FEE, "CNY", "4200000000202606010000000011")
    assert (unknown.status, unknown.amount_fen) == ("unknown", None)
    assert request.url.endswith(f"{path}?mchid={merchant.mchid}")
    assert request.headers["Authorization"].startswith(f'WECHATPAY2-SHA256-RSA2048 mchid="{merchant.mchid}"')


def test_wechat_v3_close_takes_the_signed_empty_204_and_reports_other_errors(order_a):
    merchant = WechatV3().settings("sichuan")
    _configure("wechat_jsapi", merchant)
    payment = _payment(order_a, "wechat_jsapi")
    provider = _provider("wechat_jsapi")
    path = f"/pay/transactions/out-trade-no/{payment.out_trade_no}/close"
    with responses.RequestsMock() as gateway:
        _v3_add(gateway, responses.POST, path, None, status=204)
        _v3_add(gateway, responses.POST, path, {"code": "ORDER_CLOSED", "message": "订单已关闭"}, status=400)
        _v3_add(gateway, responses.POST, path, {"code": "SYSTEM_ERROR", "message": "系统错误"}, status=500)

        assert provider.close(out_trade_no=payment.out_trade_no) is None
        assert provider.close(out_trade_no=payment.out_trade_no) is None
        with pytest.raises(GatewayError, match="SYSTEM_ERROR"):
            provider.close(out_trade_no=payment.out_trade_no)

        assert json.loads(gateway.calls[0].request.body) == {"mchid": merchant.mchid}


def _v3_refund(merchant, refund: Refund, status: str) -> dict:
    return {
        "refund_id": "50300000000000000000000000001",
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.payment.provider_txn_id,
        "out_trade_no": refund.payment.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": "2026-06-02T10:00:00+08:00",
        "status": status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": FEE,
            "refund": FEE,
            "payer_total": FEE,
            "payer_refund": FEE,
            "settlement_refund": FEE,
            "settlement_total": FEE,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }


def test_wechat_v3_refund_and_query_refund(order_a):
    merchant = WechatV3().settings("sichuan")
    _configure("wechat_jsapi", merchant)
    refund = _approved_refund(order_a, "wechat_jsapi", txn="4200000000202606010000000012")
    provider = _provider("wechat_jsapi")
    with responses.RequestsMock() as gateway:
        _v3_add(
            gateway, responses.POST, "/refund/domestic/refunds", _v3_refund(merchant, refund, "PROCESSING")
        )
        _v3_add(
            gateway,
            responses.GET,
            f"/refund/domestic/refunds/{refund.out_refund_no}",
            _v3_refund(merchant, refund, "SUCCESS"),
        )

        with schema_context("sichuan"):
            executed = refund_execute(refund_id=refund.pk, provider=provider)
        queried = provider.query_refund(out_refund_no=refund.out_refund_no)

        sent = json.loads(gateway.calls[0].request.body)
    assert executed.status == "approved"  # PROCESSING: the refund notify (or a query) finishes it
    assert (sent["out_refund_no"], sent["out_trade_no"], sent["amount"], sent["reason"]) == (
        refund.out_refund_no,
        refund.payment.out_trade_no,
        {"refund": FEE, "total": FEE, "currency": "CNY"},
        "已缴费未参加培训",
    )
    assert (queried.status, queried.amount_fen, queried.provider_refund_id) == (
        "success",
        FEE,
        "50300000000000000000000000001",
    )


def test_wechat_v3_a_refund_the_gateway_finishes_at_once_is_refunded_by_refund_execute(order_a):
    merchant = WechatV3().settings("sichuan")
    _configure("wechat_jsapi", merchant)
    refund = _approved_refund(order_a, "wechat_jsapi", txn="4200000000202606010000000013")
    with responses.RequestsMock() as gateway:
        _v3_add(gateway, responses.POST, "/refund/domestic/refunds", _v3_refund(merchant, refund, "SUCCESS"))
        with schema_context("sichuan"):
            executed = refund_execute(refund_id=refund.pk, provider=registry.provider_for("wechat_jsapi"))
            again = refund_execute(refund_id=refund.pk, provider=registry.provider_for("wechat_jsapi"))
        assert len(gateway.calls) == 1
    assert (executed.status, again.status) == ("refunded", "refunded")
    assert _refund_state(refund) == ("refunded", "50300000000000000000000000001", 1, 0)


def _v3_refund_notify(merchant, refund: Refund, *, key_name: str = "v3-platform-sichuan", mchid: str = ""):
    resource = {
        "mchid": mchid or merchant.mchid,
        "out_trade_no": refund.payment.out_trade_no,
        "transaction_id": refund.payment.provider_txn_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": "50300000000000000000000000002",
        "refund_status": "SUCCESS",
        "success_time": "2026-06-02T10:00:05+08:00",
        "user_received_account": "支付用户零钱",
        "amount": {"total": FEE, "refund": FEE, "payer_total": FEE, "payer_refund": FEE},
    }
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(merchant.apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), b"refund"
    )
    body = json.dumps(
        {
            "id": f"EV-refund-{refund.out_refund_no}",
            "create_time": "2026-06-02T10:00:06+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "REFUND.SUCCESS",
            "summary": "退款成功",
            "resource": {
                "original_type": "refund",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": "refund",
                "nonce": nonce,
            },
        }
    )
    headers = WechatV3.signed_headers(body, key_name=key_name, serial=merchant.wechatpay_public_key_id)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return body.encode(), meta


def test_wechat_v3_refund_notify_is_verified_decrypted_and_finishes_the_refund_once(order_a):
    merchant = WechatV3().settings("sichuan")
    _configure("wechat_jsapi", merchant)
    with schema_context("sichuanb"):
        ms.merchant_settings_save("wechat_jsapi", WechatV3().settings("sichuanb"))
    refund = _approved_refund(order_a, "wechat_jsapi", txn="4200000000202606010000000014")
    body, meta = _v3_refund_notify(merchant, refund)

    forged_body, forged_meta = _v3_refund_notify(merchant, refund, key_name="v3-forger")
    forged = _post(forged_body, "application/json", "wechat_jsapi", **forged_meta)
    other_merchant_body, other_meta = _v3_refund_notify(merchant, refund, mchid="1600000999")
    other_merchant = _post(other_merchant_body, "application/json", "wechat_jsapi", **other_meta)
    look_alike = _post(body, "application/json", "wechat_jsapi", host="sichuanb.localhost", **meta)
    assert _refund_state(refund) == ("approved", "", 0, 0)
    first = _post(body, "application/json", "wechat_jsapi", **meta)
    again = _post(body, "application/json", "wechat_jsapi", **meta)

    assert forged[0] == other_merchant[0] == look_alike[0] == 400
    assert first == again == (200, '{"code": "SUCCESS"}')
    assert _refund_state(refund) == ("refunded", "50300000000000000000000000002", 1, 1)
    with schema_context("sichuan"):
        assert NotifyEvent.objects.get().outcome == "refunded"
    with schema_context("sichuanb"):
        assert not NotifyEvent.objects.exists()


# =========================================================================================================
# Alipay: the official SDK posts over http.client; every answer is RSA2-signed by Alipay
# =========================================================================================================


def _alipay_answer(method: str, payload: dict, *, key_name: str = "alipay-platform-sichuan") -> bytes:
    content = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    signature = sign_with_rsa2(bare(private_pem(key_name)), content, "utf-8")
    name = method.replace(".", "_") + "_response"
    return f'{{"{name}":{content},"sign":"{signature}"}}'.encode()


def _alipay_sent(post) -> tuple[str, dict]:
    """The method and biz_content we sent, after checking our request signature with the app's key."""
    _url, query_string, _headers, params = post.call_args.args[:4]
    common = dict(parse_qsl(query_string))
    signature = common.pop("sign")
    signed = {**common, **params}  # requests sign sign_type too (only notifies leave it out)
    public = bare(
        rsa_key("alipay-app-sichuan")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert verify_with_rsa(public, get_sign_content(signed).encode(), signature)
    return common["method"], json.loads(params["biz_content"])


@pytest.fixture
def alipay_merchant():
    merchant = Alipay("alipay_qr").settings("sichuan")
    _configure("alipay_qr", merchant)
    return merchant


def test_alipay_query_reads_the_trade_and_refuses_an_answer_with_a_bad_signature(order_a, alipay_merchant):
    from unittest import mock

    payment = _payment(order_a, "alipay_qr")
    provider = _provider("alipay_qr")
    answer = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": payment.out_trade_no,
        "trade_no": "2026060122001446880000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "800.00",
        "buyer_logon_id": "159****5620",
    }
    not_found = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.TRADE_NOT_EXIST",
        "sub_msg": "交易不存在",
    }
    with mock.patch(
        "alipay.aop.api.DefaultAlipayClient.do_post",
        side_effect=[
            _alipay_answer("alipay.trade.query", answer),
            _alipay_answer("alipay.trade.query", not_found),
            _alipay_answer("alipay.trade.query", answer, key_name="alipay-forger"),
        ],
    ) as post:
        paid = provider.query(out_trade_no=payment.out_trade_no)
        method, biz = _alipay_sent(post)
        unknown = provider.query(out_trade_no="ZZ000")
        with pytest.raises(GatewayError, match="sign"):
            provider.query(out_trade_no=payment.out_trade_no)
    assert paid == PaymentResult(payment.out_trade_no, "success", FEE, "CNY", "2026060122001446880000000001")
    assert (method, biz) == ("alipay.trade.query", {"out_trade_no": payment.out_trade_no})
    assert (unknown.status, unknown.amount_fen) == ("unknown", None)


def test_alipay_close_accepts_a_trade_never_scanned_and_reports_other_errors(order_a, alipay_merchant):
    from unittest import mock

    payment = _payment(order_a, "alipay_qr")
    provider = _provider("alipay_qr")
    closed = {"code": "10000", "msg": "Success", "out_trade_no": payment.out_trade_no, "trade_no": "2026"}
    never = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.TRADE_NOT_EXIST",
        "sub_msg": "交易不存在",
    }
    failing = {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.TRADE_STATUS_ERROR",
        "sub_msg": "交易状态不合法",
    }
    with mock.patch(
        "alipay.aop.api.DefaultAlipayClient.do_post",
        side_effect=[_alipay_answer("alipay.trade.close", body) for body in (closed, never, failing)],
    ) as post:
        assert provider.close(out_trade_no=payment.out_trade_no) is None
        method, biz = _alipay_sent(post)
        assert provider.close(out_trade_no=payment.out_trade_no) is None
        with pytest.raises(GatewayError, match=r"ACQ\.TRADE_STATUS_ERROR"):
            provider.close(out_trade_no=payment.out_trade_no)
    assert (method, biz) == ("alipay.trade.close", {"out_trade_no": payment.out_trade_no})


def test_alipay_refund_sends_the_yuan_amount_and_out_request_no_and_query_refund_reads_it(
    order_a, alipay_merchant
):
    from unittest import mock

    refund = _approved_refund(order_a, "alipay_qr", txn="2026060122001446880000000002")
    provider = _provider("alipay_qr")
    refunded = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": refund.payment.out_trade_no,
        "trade_no": "2026060122001446880000000002",
        "buyer_logon_id": "159****5620",
        "fund_change": "Y",
        "refund_fee": "800.00",
        "gmt_refund_pay": "2026-06-02 10:00:00",
    }
    queried = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": refund.payment.out_trade_no,
        "trade_no": "2026060122001446880000000002",
        "out_request_no": refund.out_refund_no,
        "total_amount": "800.00",
        "refund_amount": "800.00",
        "refund_status": "REFUND_SUCCESS",
    }
    with mock.patch(
        "alipay.aop.api.DefaultAlipayClient.do_post",
        side_effect=[
            _alipay_answer("alipay.trade.refund", refunded),
            _alipay_answer("alipay.trade.fastpay.refund.query", queried),
        ],
    ) as post:
        with schema_context("sichuan"):
            executed = refund_execute(refund_id=refund.pk, provider=provider)
            refund_method, refund_biz = _alipay_sent(post)
            result = provider.query_refund(out_refund_no=refund.out_refund_no)
            query_method, query_biz = _alipay_sent(post)
    assert (executed.status, executed.provider_refund_id) == ("refunded", "2026060122001446880000000002")
    assert refund_method == "alipay.trade.refund"
    assert refund_biz == {
        "out_trade_no": refund.payment.out_trade_no,
        "refund_amount": "800.00",
        "out_request_no": refund.out_refund_no,
        "refund_reason": "已缴费未参加培训",
    }
    assert (query_method, query_biz) == (
        "alipay.trade.fastpay.refund.query",
        {"out_trade_no": refund.payment.out_trade_no, "out_request_no": refund.out_refund_no},
    )
    assert (result.status, result.amount_fen) == ("success", FEE)
    assert _refund_state(refund)[:3] == ("refunded", "2026060122001446880000000002", 1)


# =========================================================================================================
# Stripe: StripeClient over requests; refund webhooks signed with the tenant's whsec
# =========================================================================================================


def _stripe_merchant():
    merchant = Stripe().settings("sichuan")
    _configure("stripe", merchant)
    return merchant


def _intent(out_trade_no: str, *, tenant: str = "sichuan", status: str = "succeeded", id_: str = "") -> dict:
    return {
        "id": id_ or f"pi_{tenant}_{out_trade_no}",
        "object": "payment_intent",
        "amount": FEE,
        "amount_received": FEE if status == "succeeded" else 0,
        "currency": "cny",
        "status": status,
        "metadata": {"tenant": tenant, "out_trade_no": out_trade_no},
    }


def test_stripe_query_finds_this_tenants_payment_intent_by_metadata(order_a):
    _stripe_merchant()
    payment = _payment(order_a, "stripe")
    provider = _provider("stripe")
    with responses.RequestsMock() as gateway:
        gateway.add(
            responses.GET,
            STRIPE + "/payment_intents/search",
            json={
                "object": "search_result",
                "url": "/v1/payment_intents/search",
                "has_more": False,
                "data": [
                    _intent(payment.out_trade_no, tenant="sichuanb"),  # same account, the look-alike tenant
                    _intent(payment.out_trade_no, id_="pi_sichuan_1"),
                ],
            },
        )
        gateway.add(
            responses.GET,
            STRIPE + "/payment_intents/search",
            json={
                "object": "search_result",
                "url": "/v1/payment_intents/search",
                "has_more": False,
                "data": [],
            },
        )

        with schema_context("sichuan"):  # the tenant the intents' metadata must name
            paid = provider.query(out_trade_no=payment.out_trade_no)
            unknown = provider.query(out_trade_no="ZZ000")

        sent = dict(parse_qsl(gateway.calls[0].request.url.split("?", 1)[1]))
        authorization = gateway.calls[0].request.headers["Authorization"]
    assert paid == PaymentResult(payment.out_trade_no, "success", FEE, "CNY", "pi_sichuan_1")
    assert (unknown.status, unknown.amount_fen) == ("unknown", None)
    assert sent["query"] == f"metadata['out_trade_no']:'{payment.out_trade_no}'"
    assert authorization == "Bearer sk_test_sichuan"


def _started_checkout(order_a) -> Payment:
    payment = _payment(order_a, "stripe")
    with responses.RequestsMock() as gateway, schema_context("sichuan"):
        gateway.add(
            responses.POST,
            STRIPE + "/checkout/sessions",
            json={
                "id": "cs_test_a1B2c3",
                "object": "checkout.session",
                "status": "open",
                "url": "https://checkout.stripe.com/c/pay/cs_test_a1B2c3#fidkdWxOYHwnPyd1blpxYHZxWjA0",
            },
        )
        payment_start(
            payment=payment,
            provider=registry.provider_for("stripe"),
            request=PaymentRequest(
                out_trade_no=payment.out_trade_no,
                amount_fen=FEE,
                currency="CNY",
                subject="培训费 1 人",
                notify_url="https://sichuan.localhost/pay/notify/stripe/",
                return_url="https://sichuan.localhost/billing/orders/1/",
                expires_at_iso="",
            ),
        )
        return Payment.objects.get(pk=payment.pk)


def test_stripe_close_expires_the_open_checkout_session(order_a):
    _stripe_merchant()
    payment = _started_checkout(order_a)
    provider = _provider("stripe")
    with responses.RequestsMock() as gateway:
        gateway.add(
            responses.GET,
            STRIPE + "/checkout/sessions/cs_test_a1B2c3",
            json={"id": "cs_test_a1B2c3", "object": "checkout.session", "status": "open"},
        )
        gateway.add(
            responses.POST,
            STRIPE + "/checkout/sessions/cs_test_a1B2c3/expire",
            json={"id": "cs_test_a1B2c3", "object": "checkout.session", "status": "expired"},
        )
        gateway.add(
            responses.GET,
            STRIPE + "/checkout/sessions/cs_test_a1B2c3",
            json={"id": "cs_test_a1B2c3", "object": "checkout.session", "status": "expired"},
        )
        with schema_context("sichuan"):
            provider.close(out_trade_no=payment.out_trade_no)
            provider.close(out_trade_no=payment.out_trade_no)  # already expired: nothing more to send
        assert [(call.request.method, call.request.url.split("/v1")[1]) for call in gateway.calls] == [
            ("GET", "/checkout/sessions/cs_test_a1B2c3"),
            ("POST", "/checkout/sessions/cs_test_a1B2c3/expire"),
            ("GET", "/checkout/sessions/cs_test_a1B2c3"),
        ]


def _stripe_refund(refund: Refund, status: str, *, tenant: str = "sichuan") -> dict:
    return {
        "id": "re_3PqRsTuVwXyZ",
        "object": "refund",
        "amount": FEE,
        "currency": "cny",
        "payment_intent": refund.payment.provider_txn_id,
        "status": status,
        "metadata": {"tenant": tenant, "out_refund_no": refund.out_refund_no},
    }


def test_stripe_refund_is_idempotent_by_out_refund_no_and_query_refund_finds_it(order_a):
    _stripe_merchant()
    refund = _approved_refund(order_a, "stripe", txn="pi_3PqRsTuVwXyZ")
    provider = _provider("stripe")
    with responses.RequestsMock() as gateway:
        gateway.add(responses.POST, STRIPE + "/refunds", json=_stripe_refund(refund, "pending"))
        gateway.add(
            responses.GET,
            STRIPE + "/refunds",
            json={
                "object": "list",
                "url": "/v1/refunds",
                "has_more": False,
                "data": [
                    {**_stripe_refund(refund, "succeeded"), "id": "re_other", "metadata": {}},
                    _stripe_refund(refund, "succeeded"),
                ],
            },
        )

        with schema_context("sichuan"):
            executed = refund_execute(refund_id=refund.pk, provider=provider)
            queried = provider.query_refund(out_refund_no=refund.out_refund_no)

        sent = dict(parse_qsl(gateway.calls[0].request.body))
        idempotency = gateway.calls[0].request.headers["Idempotency-Key"]
        listed = dict(parse_qsl(gateway.calls[1].request.url.split("?", 1)[1]))
    assert executed.status == "approved"  # pending at Stripe: the refund webhook finishes it
    assert sent == {
        "payment_intent": "pi_3PqRsTuVwXyZ",
        "amount": str(FEE),
        "metadata[tenant]": "sichuan",
        "metadata[out_refund_no]": refund.out_refund_no,
    }
    assert idempotency == f"sichuan-{refund.out_refund_no}"
    assert listed == {"payment_intent": "pi_3PqRsTuVwXyZ", "limit": "100"}
    assert (queried.status, queried.amount_fen, queried.provider_refund_id) == (
        "success",
        FEE,
        "re_3PqRsTuVwXyZ",
    )


def _stripe_event(event_type: str, item: dict, *, secret: str, event_id: str) -> tuple[bytes, dict]:
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "type": event_type,
            "livemode": False,
            "data": {"object": item},
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return payload.encode(), {"HTTP_STRIPE_SIGNATURE": header}


@pytest.mark.parametrize("event_type", ["refund.updated", "charge.refunded"])
def test_a_signed_stripe_refund_webhook_finishes_the_refund_once(order_a, event_type):
    merchant = _stripe_merchant()
    with schema_context("sichuanb"):
        ms.merchant_settings_save("stripe", Stripe().settings("sichuanb"))
    refund = _approved_refund(order_a, "stripe", txn="pi_3PqRsTuVwXyZ")
    if event_type == "refund.updated":
        item = _stripe_refund(refund, "succeeded")
    else:
        item = {
            "id": "ch_3PqRsTuVwXyZ",
            "object": "charge",
            "amount": FEE,
            "amount_refunded": FEE,
            "currency": "cny",
            "payment_intent": "pi_3PqRsTuVwXyZ",
            "refunded": True,
            "metadata": {"tenant": "sichuan", "out_trade_no": refund.payment.out_trade_no},
            "refunds": {"object": "list", "data": [_stripe_refund(refund, "succeeded")], "has_more": False},
        }
    body, meta = _stripe_event(event_type, item, secret=merchant.webhook_secret, event_id="evt_refund_1")
    forged, forged_meta = _stripe_event(event_type, item, secret="whsec_forger", event_id="evt_refund_1")

    refused = _post(forged, "application/json", "stripe", **forged_meta)
    look_alike = _post(body, "application/json", "stripe", host="sichuanb.localhost", **meta)
    assert _refund_state(refund) == ("approved", "", 0, 0)
    first = _post(body, "application/json", "stripe", **meta)
    again = _post(body, "application/json", "stripe", **meta)

    assert refused == look_alike == (400, '{"received": false}')
    assert first == again == (200, '{"received": true}')
    assert _refund_state(refund) == ("refunded", "re_3PqRsTuVwXyZ", 1, 1)
    with schema_context("sichuanb"):
        assert not NotifyEvent.objects.exists()


def test_a_stripe_refund_webhook_of_another_tenant_on_the_same_account_is_refused(order_a):
    merchant = _stripe_merchant()
    refund = _approved_refund(order_a, "stripe", txn="pi_3PqRsTuVwXyZ")
    body, meta = _stripe_event(
        "refund.updated",
        _stripe_refund(refund, "succeeded", tenant="sichuanb"),
        secret=merchant.webhook_secret,
        event_id="evt_refund_2",
    )

    answer = _post(body, "application/json", "stripe", **meta)

    assert answer == (400, '{"received": false}')
    assert _refund_state(refund) == ("approved", "", 0, 0)

"""WeChat Pay APIv3 through wechatpayv3 in WeChat-Pay-public-key mode (research §3.3): JSON requests signed
with the merchant key, responses and notifies verified with the WeChat Pay public key, notify resources
decrypted with the APIv3 key (AES-256-GCM)."""

import json
import secrets
import time

import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from billing.merchant_settings import WechatV3Settings
from billing.providers.base import (
    GatewayError,
    NotifyRejected,
    ParsedNotify,
    PaymentAction,
    PaymentRequest,
    PaymentResult,
    RefundResult,
)
from billing.providers.wechat_v2 import gateway_expiry

_TRADE_STATE = {
    "SUCCESS": "success",
    "REFUND": "success",
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "failed",
}
_REFUND_STATE = {"SUCCESS": "success", "PROCESSING": "pending", "ABNORMAL": "failed", "CLOSED": "failed"}


class WechatV3Provider:
    def __init__(self, *, channel: str, merchant: WechatV3Settings):
        self.channel = channel
        self.merchant = merchant
        self.client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI if channel == "wechat_jsapi" else WeChatPayType.NATIVE,
            mchid=merchant.mchid,
            private_key=merchant.private_key_pem,
            cert_serial_no=merchant.cert_serial_no,
            appid=merchant.appid,
            apiv3_key=merchant.apiv3_key,
            # Without public_key/public_key_id the SDK downloads platform certificates at construction.
            public_key=merchant.wechatpay_public_key_pem,
            public_key_id=merchant.wechatpay_public_key_id,
            timeout=(5, 10),
        )

    def _call(self, method, **kwargs) -> tuple[int, dict]:
        try:
            code, text = method(**kwargs)
        except requests.RequestException as error:
            raise GatewayError(str(error)) from error
        except Exception as error:  # the SDK raises bare Exception on a bad response signature
            raise GatewayError(str(error)) from error
        try:
            data = json.loads(text) if text else {}
        except (TypeError, ValueError):
            data = {}
        return code, data

    def start(self, request: PaymentRequest) -> PaymentAction:
        jsapi = self.channel == "wechat_jsapi"
        code, data = self._call(
            self.client.pay,
            description=request.subject[:127],
            out_trade_no=request.out_trade_no,
            amount={"total": request.amount_fen, "currency": request.currency},
            payer={"openid": request.payer_openid} if jsapi else None,
            time_expire=gateway_expiry(request.expires_at_iso).isoformat(timespec="seconds"),
            notify_url=request.notify_url,
            pay_type=WeChatPayType.JSAPI if jsapi else WeChatPayType.NATIVE,
        )
        if code != 200:
            raise GatewayError(f"{data.get('code', code)}: {data.get('message', '')}")
        if not jsapi:
            return PaymentAction(kind="qr", qr_content=data["code_url"])
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={data['prepay_id']}"
        return PaymentAction(
            kind="jsapi",
            jsapi_params={
                "appId": self.merchant.appid,
                "timeStamp": timestamp,
                "nonceStr": nonce,
                "package": package,
                "signType": "RSA",
                "paySign": self.client.sign([self.merchant.appid, timestamp, nonce, package]),
            },
        )

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        canonical = {key.lower(): value for key, value in headers.items()}
        # Another serial would make the SDK fetch platform certificates over the network: refuse it here.
        if canonical.get("wechatpay-serial") != self.merchant.wechatpay_public_key_id:
            raise NotifyRejected("unknown signing key")
        try:
            envelope = self.client.callback(canonical, body)
        except Exception as error:  # the SDK raises bare Exception for bad headers
            raise NotifyRejected("signature") from error
        if not envelope or not isinstance(envelope.get("resource"), dict):
            raise NotifyRejected("signature or decryption")
        resource = envelope["resource"]
        if resource.get("mchid") != self.merchant.mchid:
            raise NotifyRejected("merchant id is not ours")
        text = body.decode("utf-8")
        event_key = f"v3:{envelope.get('id', '')}"[:128]
        event_type = envelope.get("event_type", "")
        if event_type.startswith("REFUND."):
            amount = resource.get("amount") or {}
            return ParsedNotify(
                event_key=event_key,
                payload=text,
                refund=RefundResult(
                    out_refund_no=resource.get("out_refund_no", ""),
                    status=_REFUND_STATE.get(resource.get("refund_status", ""), "pending"),
                    amount_fen=amount.get("refund"),
                    provider_refund_id=resource.get("refund_id", ""),
                ),
            )
        if resource.get("appid") != self.merchant.appid:
            raise NotifyRejected("app id is not ours")
        return ParsedNotify(event_key=event_key, payload=text, result=_result(resource))

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        if ok:
            return 200, "application/json", json.dumps({"code": "SUCCESS"})
        return 400, "application/json", json.dumps({"code": "FAIL", "message": "rejected"})

    def query(self, *, out_trade_no: str) -> PaymentResult:
        code, data = self._call(self.client.query, out_trade_no=out_trade_no)
        if code == 404:
            return PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)
        if code != 200:
            raise GatewayError(f"{data.get('code', code)}: {data.get('message', '')}")
        return _result(data)

    def close(self, *, out_trade_no: str) -> None:
        code, data = self._call(self.client.close, out_trade_no=out_trade_no)
        if code not in (200, 204) and data.get("code") != "ORDER_CLOSED":
            raise GatewayError(f"{data.get('code', code)}: {data.get('message', '')}")

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        code, data = self._call(
            self.client.refund,
            out_refund_no=out_refund_no,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=reason[:80] or None,
        )
        if code != 200:
            raise GatewayError(f"{data.get('code', code)}: {data.get('message', '')}")
        return _refund(out_refund_no, data)

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        code, data = self._call(self.client.query_refund, out_refund_no=out_refund_no)
        if code != 200:
            raise GatewayError(f"{data.get('code', code)}: {data.get('message', '')}")
        return _refund(out_refund_no, data)


def _result(data: dict) -> PaymentResult:
    amount = data.get("amount") or {}
    return PaymentResult(
        out_trade_no=data.get("out_trade_no", ""),
        status=_TRADE_STATE.get(data.get("trade_state", ""), "unknown"),
        amount_fen=amount.get("total"),
        currency=amount.get("currency") or "CNY",
        provider_txn_id=data.get("transaction_id") or "",
    )


def _refund(out_refund_no: str, data: dict) -> RefundResult:
    return RefundResult(
        out_refund_no=out_refund_no,
        status=_REFUND_STATE.get(data.get("status", ""), "pending"),
        amount_fen=(data.get("amount") or {}).get("refund"),
        provider_refund_id=data.get("refund_id", ""),
    )

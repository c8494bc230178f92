"""WeChat Pay APIv2 (XML + MD5 key) through wechatpy: Native (code_url QR) and JSAPI (prepay_id →
wx.requestPayment parameters). Research §3.1–3.2: always pass client_ip (else a DNS lookup) and time_expire
(else now + 2 h); parse_payment_result checks only MD5 signatures."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import dict_to_xml

from billing.merchant_settings import WechatV2Settings
from billing.providers.base import (
    GatewayError,
    NotifyRejected,
    ParsedNotify,
    PaymentAction,
    PaymentRequest,
    PaymentResult,
    RefundResult,
)

BEIJING = ZoneInfo("Asia/Shanghai")
_TRADE_STATE = {
    "SUCCESS": "success",
    "REFUND": "success",  # paid, then (partly) refunded
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "failed",
}
_REFUND_STATE = {"SUCCESS": "success", "PROCESSING": "pending", "CHANGE": "failed", "REFUNDCLOSE": "failed"}


def _ack_xml(ok: bool) -> str:
    return dict_to_xml(
        {"return_code": "SUCCESS", "return_msg": "OK"}
        if ok
        else {"return_code": "FAIL", "return_msg": "FAIL"}
    )


class WechatV2Provider:
    def __init__(self, *, channel: str, merchant: WechatV2Settings):
        self.channel = channel
        self.merchant = merchant
        self.client = WeChatPay(appid=merchant.appid, api_key=merchant.api_key, mch_id=merchant.mch_id)

    # --- paying ---------------------------------------------------------------------------------------

    def start(self, request: PaymentRequest) -> PaymentAction:
        jsapi = self.channel == "wechat_jsapi"
        try:
            reply = self.client.order.create(
                trade_type="JSAPI" if jsapi else "NATIVE",
                body=request.subject[:40],
                total_fee=request.amount_fen,
                fee_type=request.currency,
                notify_url=request.notify_url,
                client_ip=request.client_ip,
                out_trade_no=request.out_trade_no,
                product_id=None if jsapi else request.out_trade_no,
                user_id=request.payer_openid if jsapi else None,
                time_expire=_local_naive(request.expires_at_iso),
            )
        except (WeChatPayException, OSError) as error:
            raise GatewayError(str(error)) from error
        if jsapi:
            return PaymentAction(
                kind="jsapi", jsapi_params=self.client.jsapi.get_jsapi_params(reply["prepay_id"])
            )
        return PaymentAction(kind="qr", qr_content=reply["code_url"])

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        text = body.decode("utf-8", errors="replace")
        if "<req_info>" in text:
            return self._parse_refund_notify(text)
        try:
            data = self.client.parse_payment_result(text)
        except (InvalidSignatureException, ValueError) as error:
            raise NotifyRejected("signature") from error
        self._check_ids(data)
        if data.get("return_code") != "SUCCESS" or not data.get("out_trade_no"):
            raise NotifyRejected("not a payment result")
        status = "success" if data.get("result_code") == "SUCCESS" else "failed"
        transaction_id = data.get("transaction_id") or ""
        event_key = (
            f"pay:{transaction_id}"
            if transaction_id
            else f"pay:{data['out_trade_no']}:{data.get('nonce_str', '')}"
        )
        return ParsedNotify(
            event_key=event_key[:128],
            payload=text,
            result=PaymentResult(
                out_trade_no=data["out_trade_no"],
                status=status,
                amount_fen=data.get("total_fee") if status == "success" else None,
                currency=data.get("fee_type") or "CNY",
                provider_txn_id=transaction_id,
            ),
        )

    def _parse_refund_notify(self, text: str) -> ParsedNotify:
        # The refund notify carries no signature: decrypting req_info with md5(api_key) authenticates it.
        # wechatpy checks the outer appid and mch_id against ours before decrypting (the decrypted <root>
        # carries neither), raising InvalidAppIdException / InvalidMchIdException.
        try:
            data = self.client.parse_refund_notify_result(text)
        except Exception as error:  # any decryption or parse failure, or another merchant, is a forgery
            raise NotifyRejected("refund notify") from error
        if not data.get("out_refund_no"):
            raise NotifyRejected("not a refund result")
        return ParsedNotify(
            event_key=f"refund:{data.get('refund_id', '')}:{data.get('refund_status', '')}"[:128],
            payload=text,
            refund=RefundResult(
                out_refund_no=data.get("out_refund_no", ""),
                status=_REFUND_STATE.get(data.get("refund_status", ""), "pending"),
                amount_fen=data.get("refund_fee"),
                provider_refund_id=data.get("refund_id", ""),
            ),
        )

    def _check_ids(self, data: dict) -> None:
        if data.get("mch_id") != self.merchant.mch_id or data.get("appid") != self.merchant.appid:
            raise NotifyRejected("merchant or app id is not ours")

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        return 200, "application/xml", _ack_xml(ok)

    def query(self, *, out_trade_no: str) -> PaymentResult:
        try:
            data = self.client.order.query(out_trade_no=out_trade_no)
        except WeChatPayException as error:
            if error.errcode == "ORDERNOTEXIST":
                return PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)
            raise GatewayError(str(error)) from error
        except OSError as error:
            raise GatewayError(str(error)) from error
        return PaymentResult(
            out_trade_no=out_trade_no,
            status=_TRADE_STATE.get(data.get("trade_state", ""), "unknown"),
            amount_fen=int(data["total_fee"]) if data.get("total_fee") else None,
            currency=data.get("fee_type") or "CNY",
            provider_txn_id=data.get("transaction_id") or "",
        )

    def close(self, *, out_trade_no: str) -> None:
        try:
            self.client.order.close(out_trade_no)
        except WeChatPayException as error:
            if error.errcode in ("ORDERCLOSED", "ORDERNOTEXIST"):
                return
            raise GatewayError(str(error)) from error
        except OSError as error:
            raise GatewayError(str(error)) from error

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        with self._client_certificate() as client:
            try:
                data = client.refund.apply(
                    total_fee=total_fen,
                    refund_fee=amount_fen,
                    out_refund_no=out_refund_no,
                    out_trade_no=out_trade_no,
                )
            except (WeChatPayException, OSError) as error:
                raise GatewayError(str(error)) from error
        # Accepted: the refund notify (or query_refund) tells when the money is back.
        return RefundResult(
            out_refund_no=out_refund_no,
            status="pending",
            amount_fen=int(data.get("refund_fee") or amount_fen),
            provider_refund_id=data.get("refund_id") or "",
        )

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        try:
            data = self.client.refund.query(out_refund_no=out_refund_no)
        except (WeChatPayException, OSError) as error:
            raise GatewayError(str(error)) from error
        return RefundResult(
            out_refund_no=out_refund_no,
            status=_REFUND_STATE.get(data.get("refund_status_0", ""), "pending"),
            amount_fen=int(data["refund_fee_0"]) if data.get("refund_fee_0") else None,
            provider_refund_id=data.get("refund_id_0") or "",
        )

    @contextlib.contextmanager
    def _client_certificate(self) -> Iterator[WeChatPay]:
        """wechatpy wants file paths for the refund client certificate: write them for this one call."""
        if not (self.merchant.client_cert_pem and self.merchant.client_key_pem):
            raise GatewayError("refunds need the merchant's apiclient certificate and key")
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, content in ((cert, self.merchant.client_cert_pem), (key, self.merchant.client_key_pem)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                    handle.write(content)
            yield WeChatPay(
                appid=self.merchant.appid,
                api_key=self.merchant.api_key,
                mch_id=self.merchant.mch_id,
                mch_cert=cert,
                mch_key=key,
            )


def gateway_expiry(iso: str) -> datetime:
    """The gateway-side expiry in Beijing time; an order without a deadline still gets one (2 h, what
    WeChat would default to) so a forgotten QR code cannot be paid days later."""
    if iso:
        return datetime.fromisoformat(iso).astimezone(BEIJING)
    return datetime.now(BEIJING) + timedelta(hours=2)


def _local_naive(iso: str) -> datetime:
    """WeChat v2 takes yyyyMMddHHmmss in Beijing time; wechatpy formats a datetime with strftime."""
    return gateway_expiry(iso).replace(tzinfo=None)

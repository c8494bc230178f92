"""Alipay through the official alipay-sdk-python (public-key mode, RSA2), research §2: page pay is a signed
gateway URL built locally (no network); QR is alipay.trade.precreate; notifies are verified here with
get_sign_content + rsa.verify insisting on SHA-256, then app_id / seller_id and the yuan amount."""

import base64
import html
import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl

import rsa
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradeFastpayRefundQueryModel import AlipayTradeFastpayRefundQueryModel
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradeFastpayRefundQueryRequest import AlipayTradeFastpayRefundQueryRequest
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.util.SignatureUtils import fill_public_key_marker, get_sign_content

from billing.merchant_settings import AlipaySettings
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

_YUAN = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")
_TRADE_STATUS = {
    "TRADE_SUCCESS": "success",
    "TRADE_FINISHED": "success",
    "WAIT_BUYER_PAY": "pending",
    "TRADE_CLOSED": "closed",
}


def yuan_to_fen(value: str) -> int:
    """Alipay amounts are yuan strings with at most two decimals ("9800.00"); anything else is refused."""
    if not isinstance(value, str) or not _YUAN.fullmatch(value):
        raise ValueError(f"not a yuan amount with at most two decimals: {value!r}")
    return int(Decimal(value) * 100)


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _beijing(iso: str) -> str:
    return gateway_expiry(iso).strftime("%Y-%m-%d %H:%M:%S")


class AlipayProvider:
    def __init__(self, *, channel: str, merchant: AlipaySettings):
        self.channel = channel
        self.merchant = merchant
        config = AlipayClientConfig()
        config.server_url = merchant.server_url
        config.app_id = merchant.app_id
        config.app_private_key = merchant.app_private_key
        config.alipay_public_key = merchant.alipay_public_key
        config.sign_type = "RSA2"
        self.client = DefaultAlipayClient(alipay_client_config=config)

    def _execute(self, request) -> dict:
        try:
            text = self.client.execute(request)
        except Exception as error:  # the SDK raises RequestException/ResponseException/OSError
            raise GatewayError(str(error)) from error
        return json.loads(text)

    def start(self, request: PaymentRequest) -> PaymentAction:
        if request.currency != "CNY":
            raise GatewayError("Alipay takes CNY only")
        if self.channel == "alipay_page":
            model = AlipayTradePagePayModel()
            model.product_code = "FAST_INSTANT_TRADE_PAY"
            gateway_request_class = AlipayTradePagePayRequest
        else:
            model = AlipayTradePrecreateModel()
            gateway_request_class = AlipayTradePrecreateRequest
        model.out_trade_no = request.out_trade_no
        model.total_amount = fen_to_yuan(request.amount_fen)
        model.subject = request.subject[:256]
        model.time_expire = _beijing(request.expires_at_iso)
        gateway_request = gateway_request_class(biz_model=model)
        gateway_request.notify_url = request.notify_url
        if self.channel == "alipay_page":
            gateway_request.return_url = request.return_url
            return PaymentAction(
                kind="redirect", url=self.client.page_execute(gateway_request, http_method="GET")
            )
        data = self._execute(gateway_request)
        if data.get("code") != "10000" or not data.get("qr_code"):
            raise GatewayError(
                f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg')}"
            )
        return PaymentAction(kind="qr", qr_content=data["qr_code"])

    def _verified(self, params: dict[str, str]) -> bool:
        signature = params.get("sign", "")
        if not signature or params.get("sign_type", "RSA2") != "RSA2":
            return False
        public_key = rsa.PublicKey.load_pkcs1_openssl_pem(
            fill_public_key_marker(self.merchant.alipay_public_key)
        )

        def attempt(values: dict[str, str]) -> bool:
            data = {k: v for k, v in values.items() if k not in ("sign", "sign_type") and v not in (None, "")}
            try:
                return (
                    rsa.verify(
                        get_sign_content(data).encode("utf-8"), base64.b64decode(signature), public_key
                    )
                    == "SHA-256"
                )
            except (rsa.VerificationError, ValueError):
                return False

        if attempt(params):
            return True
        # Some deliveries carry fund_bill_list HTML-escaped (&quot;); retry once unescaped (research §2.2).
        if "&quot;" in params.get("fund_bill_list", ""):
            return attempt({**params, "fund_bill_list": html.unescape(params["fund_bill_list"])})
        return False

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotifyRejected("charset") from error
        params = dict(parse_qsl(text, keep_blank_values=True))
        if not self._verified(params):
            raise NotifyRejected("signature")
        if params.get("app_id") != self.merchant.app_id:
            raise NotifyRejected("app id is not ours")
        if self.merchant.seller_id and params.get("seller_id") != self.merchant.seller_id:
            raise NotifyRejected("seller id is not ours")
        if not params.get("notify_id") or not params.get("out_trade_no"):
            raise NotifyRejected("format")
        try:
            amount_fen = yuan_to_fen(params.get("total_amount", ""))
            refund_fen = yuan_to_fen(params["refund_fee"]) if params.get("refund_fee") else None
        except ValueError as error:
            raise NotifyRejected("amount") from error
        event_key = f"alipay:{params['notify_id']}"[:128]
        if params.get("out_biz_no") and params.get("gmt_refund"):
            # A refund shows up as a notify on the trade, carrying our out_request_no as out_biz_no.
            return ParsedNotify(
                event_key=event_key,
                payload=text,
                refund=RefundResult(
                    out_refund_no=params["out_biz_no"], status="success", amount_fen=refund_fen
                ),
            )
        return ParsedNotify(
            event_key=event_key,
            payload=text,
            result=PaymentResult(
                out_trade_no=params["out_trade_no"],
                status=_TRADE_STATUS.get(params.get("trade_status", ""), "unknown"),
                amount_fen=amount_fen,
                currency="CNY",
                provider_txn_id=params.get("trade_no", ""),
            ),
        )

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        return 200, "text/plain", "success" if ok else "failure"

    def query(self, *, out_trade_no: str) -> PaymentResult:
        model = AlipayTradeQueryModel()
        model.out_trade_no = out_trade_no
        data = self._execute(AlipayTradeQueryRequest(biz_model=model))
        if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)
        if data.get("code") != "10000":
            raise GatewayError(
                f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg')}"
            )
        return PaymentResult(
            out_trade_no=out_trade_no,
            status=_TRADE_STATUS.get(data.get("trade_status", ""), "unknown"),
            amount_fen=yuan_to_fen(data["total_amount"]) if data.get("total_amount") else None,
            provider_txn_id=data.get("trade_no", ""),
        )

    def close(self, *, out_trade_no: str) -> None:
        model = AlipayTradeCloseModel()
        model.out_trade_no = out_trade_no
        data = self._execute(AlipayTradeCloseRequest(biz_model=model))
        # Never scanned: Alipay has no trade to close, which is what we want.
        if data.get("code") != "10000" and data.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise GatewayError(
                f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg')}"
            )

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        model = AlipayTradeRefundModel()
        model.out_trade_no = out_trade_no
        model.refund_amount = fen_to_yuan(amount_fen)
        model.out_request_no = out_refund_no  # required for partial refunds; a retry reuses it
        model.refund_reason = reason[:256]
        data = self._execute(AlipayTradeRefundRequest(biz_model=model))
        if data.get("code") != "10000":
            raise GatewayError(
                f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg')}"
            )
        return RefundResult(
            out_refund_no=out_refund_no,
            status="success" if data.get("fund_change") in ("Y", "N") else "pending",
            amount_fen=amount_fen,
            provider_refund_id=data.get("trade_no", ""),
        )

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        from billing.models import Refund  # Alipay asks by trade and request number together

        refund = Refund.objects.select_related("payment").filter(out_refund_no=out_refund_no).first()
        if refund is None:
            raise GatewayError(f"no refund {out_refund_no}")
        model = AlipayTradeFastpayRefundQueryModel()
        model.out_trade_no = refund.payment.out_trade_no
        model.out_request_no = out_refund_no
        data = self._execute(AlipayTradeFastpayRefundQueryRequest(biz_model=model))
        if data.get("code") != "10000":
            raise GatewayError(
                f"{data.get('sub_code') or data.get('code')}: {data.get('sub_msg') or data.get('msg')}"
            )
        done = data.get("refund_status") == "REFUND_SUCCESS"
        return RefundResult(
            out_refund_no=out_refund_no,
            status="success" if done else "pending",
            amount_fen=yuan_to_fen(data["refund_amount"]) if data.get("refund_amount") else None,
            provider_refund_id=data.get("trade_no", ""),
        )

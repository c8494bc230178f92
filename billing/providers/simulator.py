"""The built-in gateway simulator for tenants without merchant keys (demos, development; never production:
settings.PAYMENT_SIMULATOR). It speaks WeChat Pay v2's real notify format, signed with a per-tenant simulator
key, so a simulated payment goes through exactly the notify path a real one does: signature, merchant ids,
inbox, amount check, idempotent transition.

Simulator keys are derived, not stored: HMAC-SHA256(SECRET_KEY, "xiehui.payment-simulator:<schema>"), so
each tenant's simulator signs differently and a notify for one tenant fails the other's check."""

import hashlib
import hmac
import secrets
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from billing.merchant_settings import WechatV2Settings
from billing.models import NotifyEvent
from billing.providers.base import (
    ParsedNotify,
    PaymentAction,
    PaymentRequest,
    PaymentResult,
    RefundResult,
)
from billing.providers.wechat_v2 import WechatV2Provider

LABEL = "支付模拟器（测试环境，不会产生真实扣款）"


def simulator_merchant(schema_name: str | None = None) -> WechatV2Settings:
    schema_name = schema_name or connection.schema_name
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"xiehui.payment-simulator:{schema_name}".encode(), hashlib.sha256
    ).hexdigest()
    return WechatV2Settings(appid=f"wxsim{digest[32:44]}", mch_id=f"sim{digest[44:54]}", api_key=digest[:32])


def simulator_path(out_trade_no: str) -> str:
    return f"/pay/simulator/{out_trade_no}/"


def simulator_transaction_id(out_trade_no: str) -> str:
    return f"SIM{out_trade_no}"


class SimulatorProvider:
    def __init__(self, *, channel: str):
        self.channel = channel
        self.merchant = simulator_merchant()
        # The real v2 provider does the verifying, so the simulator cannot drift from the real format.
        self.wechat = WechatV2Provider(channel=channel, merchant=self.merchant)

    def start(self, request: PaymentRequest) -> PaymentAction:
        parts = urlsplit(request.notify_url)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        url = f"{origin}{simulator_path(request.out_trade_no)}"
        if request.return_url:
            url += "?" + urlencode({"return": request.return_url})
        if self.channel in ("wechat_native", "alipay_qr"):
            return PaymentAction(kind="qr", qr_content=url, url=url)
        if self.channel == "wechat_jsapi":
            # wx.requestPayment parameters signed with the simulator key, as a real prepay would give; the
            # mini-program's developer (or a test) completes the payment on the simulator page at `url`.
            params = self.wechat.client.jsapi.get_jsapi_params(f"simprepay{request.out_trade_no}")
            return PaymentAction(kind="jsapi", jsapi_params=params, url=url)
        return PaymentAction(kind="redirect", url=url)

    def notify_body(self, *, out_trade_no: str, amount_fen: int, currency: str, paid: bool) -> bytes:
        """A payment notify exactly as WeChat Pay v2 sends it, signed with this tenant's simulator key."""
        fields = {
            "appid": self.merchant.appid,
            "mch_id": self.merchant.mch_id,
            "nonce_str": secrets.token_hex(16),
            "return_code": "SUCCESS",
            "result_code": "SUCCESS" if paid else "FAIL",
            "out_trade_no": out_trade_no,
            "total_fee": str(amount_fen),
            "fee_type": currency,
            "trade_type": "NATIVE",
            "openid": "simulator",
            "time_end": timezone.localtime().strftime("%Y%m%d%H%M%S"),
        }
        if paid:
            fields["transaction_id"] = simulator_transaction_id(out_trade_no)
            fields["cash_fee"] = str(amount_fen)
        else:
            fields.update(err_code="SIMULATED_FAILURE", err_code_des="模拟支付失败")
        return dict_to_xml(fields, calculate_signature(fields, self.merchant.api_key)).encode()

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        return self.wechat.parse_notify(body=body, headers=headers)

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        return self.wechat.ack(ok=ok)

    def query(self, *, out_trade_no: str) -> PaymentResult:
        """What the simulator delivered: a payment is paid once its simulated success notify was stored."""
        event = NotifyEvent.objects.filter(
            channel=self.channel, event_key=f"pay:{simulator_transaction_id(out_trade_no)}"
        ).first()
        if event is None:
            return PaymentResult(out_trade_no=out_trade_no, status="pending", amount_fen=None)
        parsed = self.wechat.parse_notify(body=event.payload.encode(), headers={})
        return parsed.result or PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)

    def close(self, *, out_trade_no: str) -> None:
        return None

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        return RefundResult(
            out_refund_no=out_refund_no,
            status="success",
            amount_fen=amount_fen,
            provider_refund_id=f"SIMREFUND{out_refund_no}",
        )

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        return RefundResult(out_refund_no=out_refund_no, status="success")

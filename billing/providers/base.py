"""The one interface every payment channel implements (research/payments.md §6, pretix, Saleor)."""

from dataclasses import dataclass, field
from typing import Literal, Protocol

ResultStatus = Literal["success", "pending", "failed", "closed", "unknown"]


@dataclass(frozen=True)
class PaymentResult:
    """What a gateway says about one payment: the only thing the state machine sees."""

    out_trade_no: str  # our Payment.out_trade_no
    status: ResultStatus
    amount_fen: int | None  # what the gateway says was paid (None when it did not say)
    currency: str = "CNY"
    provider_txn_id: str = ""  # the gateway's transaction id


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: Literal["success", "pending", "failed"]
    amount_fen: int | None = None
    provider_refund_id: str = ""
    message: str = ""


@dataclass(frozen=True)
class PaymentAction:
    """What the payer does next: open a URL, scan a QR code, call wx.requestPayment, or transfer."""

    kind: Literal["redirect", "qr", "jsapi", "transfer"]
    url: str = ""
    qr_content: str = ""
    jsapi_params: dict = field(default_factory=dict)
    instructions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentRequest:
    """What a provider needs to start one payment attempt."""

    out_trade_no: str
    amount_fen: int
    currency: str
    subject: str  # e.g. "四川省建设工程质量安全与监理协会 培训费 3 人"
    notify_url: str  # absolute, on the tenant's host, carries the channel
    return_url: str
    expires_at_iso: str  # the gateway-side expiry, ISO 8601 with offset
    payer_openid: str = ""  # WeChat JSAPI
    client_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class ParsedNotify:
    """A verified notification: a unique key for the inbox, the raw payload to store, the result."""

    event_key: str
    payload: str
    result: PaymentResult | None = None
    refund: RefundResult | None = None


class NotifyRejected(Exception):
    """Signature, merchant id or format wrong: answer the gateway's failure ACK, change nothing."""


class GatewayError(Exception):
    """The gateway could not be reached or refused the call; nothing changed on our side."""


class PaymentProvider(Protocol):
    channel: str

    def start(self, request: PaymentRequest) -> PaymentAction: ...

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify: ...

    def ack(self, *, ok: bool) -> tuple[int, str, str]:  # status code, content type, body
        ...

    def query(self, *, out_trade_no: str) -> PaymentResult: ...

    def close(self, *, out_trade_no: str) -> None: ...

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult: ...

    def query_refund(self, *, out_refund_no: str) -> RefundResult: ...

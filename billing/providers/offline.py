"""Offline bank transfer (公对公): the payer transfers to the association's account with the order's short
reference in the remark; finance confirms with the amount received (services.payment_finance_decide). There
is no gateway, so no notify, no query and no refund through a provider."""

from billing.models import Payment
from billing.providers.base import (
    GatewayError,
    NotifyRejected,
    ParsedNotify,
    PaymentAction,
    PaymentRequest,
    PaymentResult,
    RefundResult,
)
from tenant_configs.schema import OfflineTransferRules


class OfflineTransferProvider:
    channel = "offline_transfer"

    def __init__(self, *, rules: OfflineTransferRules):
        self.rules = rules

    def start(self, request: PaymentRequest) -> PaymentAction:
        payment = Payment.objects.select_related("order").get(out_trade_no=request.out_trade_no)
        return PaymentAction(
            kind="transfer",
            instructions={
                "bank_account_name": self.rules.bank_account_name,
                "bank_name": self.rules.bank_name,
                "account_number": self.rules.account_number,
                "reference": payment.order.reference,
                "amount_fen": request.amount_fen,
                "currency": request.currency,
                "proof_required": self.rules.proof_required,
            },
        )

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        raise NotifyRejected("bank transfers have no gateway notifications")

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        return (200, "text/plain", "ok") if ok else (400, "text/plain", "unsupported")

    def query(self, *, out_trade_no: str) -> PaymentResult:
        # Only finance knows whether the money arrived.
        return PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)

    def close(self, *, out_trade_no: str) -> None:
        return None

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        raise GatewayError("bank transfers are refunded by finance outside the system")

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        raise GatewayError("bank transfers are refunded by finance outside the system")

"""Stripe Checkout (research §4): a Checkout Session per attempt (client_reference_id = out_trade_no, our
tenant in metadata), webhooks verified with the tenant's whsec through construct_event. The HTTP client is
pinned to requests so tests mock it at the HTTP boundary."""

import json
import re
import time

import stripe
from django.db import connection

from billing.merchant_settings import StripeSettings
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

_SESSION_ID = re.compile(r"cs_(?:test|live)_[A-Za-z0-9]+")
_REFUND_STATUS = {"succeeded": "success", "failed": "failed", "canceled": "failed"}
# Stripe: a Checkout Session expires between 30 minutes and 24 hours after creation.
_MIN_EXPIRY, _MAX_EXPIRY = 31 * 60, 24 * 3600 - 60


class StripeCheckoutProvider:
    def __init__(self, *, channel: str, merchant: StripeSettings):
        self.channel = channel
        self.merchant = merchant
        self.client = stripe.StripeClient(
            merchant.secret_key, http_client=stripe.RequestsClient(), max_network_retries=1
        )

    def start(self, request: PaymentRequest) -> PaymentAction:
        now = int(time.time())
        expires_at = int(gateway_expiry(request.expires_at_iso).timestamp())
        metadata = {"tenant": connection.schema_name, "out_trade_no": request.out_trade_no}
        try:
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "client_reference_id": request.out_trade_no,
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": request.currency.lower(),
                                "unit_amount": request.amount_fen,
                                "product_data": {"name": request.subject[:250]},
                            },
                        }
                    ],
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "expires_at": min(max(expires_at, now + _MIN_EXPIRY), now + _MAX_EXPIRY),
                    "success_url": request.return_url,
                    "cancel_url": request.return_url,
                },
                options={"idempotency_key": f"{connection.schema_name}-{request.out_trade_no}-checkout"},
            )
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error
        return PaymentAction(kind="redirect", url=session.url)

    def parse_notify(self, *, body: bytes, headers: dict[str, str]) -> ParsedNotify:
        signature = {key.lower(): value for key, value in headers.items()}.get("stripe-signature", "")
        try:
            stripe.Webhook.construct_event(body, signature, self.merchant.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise NotifyRejected("signature") from error
        text = body.decode("utf-8")
        event = json.loads(text)
        item = (event.get("data") or {}).get("object") or {}
        metadata = item.get("metadata") or {}
        event_type = event.get("type", "")
        event_key = f"stripe:{event.get('id', '')}"[:128]
        if event_type == "charge.refunded":
            # The charge lists its refunds only where the account's API version still includes them
            # (newest first); otherwise the refund.updated event of the same refund carries it.
            refunds = [
                refund
                for refund in ((item.get("refunds") or {}).get("data") or [])
                if (refund.get("metadata") or {}).get("out_refund_no")
            ]
            if not refunds:
                return ParsedNotify(event_key=event_key, payload=text)  # stored, nothing to apply
            item, metadata = refunds[0], refunds[0]["metadata"]
            event_type = "refund.updated"
        if event_type.startswith("refund.") and metadata.get("out_refund_no"):
            if metadata.get("tenant") != connection.schema_name:
                raise NotifyRejected("not this tenant's refund")
            return ParsedNotify(
                event_key=event_key,
                payload=text,
                refund=RefundResult(
                    out_refund_no=metadata["out_refund_no"],
                    status=_REFUND_STATUS.get(item.get("status", ""), "pending"),
                    amount_fen=item.get("amount"),
                    provider_refund_id=item.get("id", ""),
                ),
            )
        if not event_type.startswith("checkout.session."):
            return ParsedNotify(event_key=event_key, payload=text)  # stored, nothing to apply
        # The same account may serve several tenants: the session must be one this tenant created.
        if metadata.get("tenant") != connection.schema_name:
            raise NotifyRejected("not this tenant's session")
        return ParsedNotify(event_key=event_key, payload=text, result=_session_result(event_type, item))

    def ack(self, *, ok: bool) -> tuple[int, str, str]:
        if ok:
            return 200, "application/json", json.dumps({"received": True})
        return 400, "application/json", json.dumps({"received": False})

    def query(self, *, out_trade_no: str) -> PaymentResult:
        """The payment intent the session created, found by our metadata (Checkout Sessions are not searchable)."""
        try:
            found = self.client.v1.payment_intents.search(
                params={"query": f"metadata['out_trade_no']:'{out_trade_no}'", "limit": 10}
            )
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error
        intents = [
            intent for intent in found.data if _metadata(intent).get("tenant") == connection.schema_name
        ]
        if not intents:
            return PaymentResult(out_trade_no=out_trade_no, status="unknown", amount_fen=None)
        intent = next((intent for intent in intents if intent.status == "succeeded"), intents[0])
        status = {"succeeded": "success", "canceled": "closed", "processing": "pending"}.get(
            intent.status, "pending"
        )
        return PaymentResult(
            out_trade_no=out_trade_no,
            status=status,
            amount_fen=intent.amount_received if status == "success" else intent.amount,
            currency=intent.currency.upper(),
            provider_txn_id=intent.id,
        )

    def close(self, *, out_trade_no: str) -> None:
        from billing.models import Payment

        payment = Payment.objects.filter(out_trade_no=out_trade_no).first()
        match = _SESSION_ID.search((payment.action or {}).get("url", "")) if payment else None
        if match is None:
            return  # no session was created
        try:
            session = self.client.v1.checkout.sessions.retrieve(match.group(0))
            if session.status == "open":
                self.client.v1.checkout.sessions.expire(session.id)
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        from billing.models import Payment

        payment = Payment.objects.filter(out_trade_no=out_trade_no).first()
        if payment is None or not payment.provider_txn_id:
            raise GatewayError(f"no Stripe payment intent recorded for {out_trade_no}")
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment.provider_txn_id,
                    "amount": amount_fen,
                    "metadata": {"tenant": connection.schema_name, "out_refund_no": out_refund_no},
                },
                options={"idempotency_key": f"{connection.schema_name}-{out_refund_no}"},
            )
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error
        return _refund(out_refund_no, refund)

    def query_refund(self, *, out_refund_no: str) -> RefundResult:
        from billing.models import Refund

        refund = Refund.objects.select_related("payment").filter(out_refund_no=out_refund_no).first()
        if refund is None or not refund.payment.provider_txn_id:
            raise GatewayError(f"no Stripe payment intent recorded for refund {out_refund_no}")
        try:
            page = self.client.v1.refunds.list(
                params={"payment_intent": refund.payment.provider_txn_id, "limit": 100}
            )
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error
        for found in page.data:
            if _metadata(found).get("out_refund_no") == out_refund_no:
                return _refund(out_refund_no, found)
        raise GatewayError(f"Stripe has no refund {out_refund_no}")


def _metadata(stripe_object) -> dict:
    """An API object's metadata as a plain dict (StripeObject has no dict methods since stripe 15)."""
    metadata = getattr(stripe_object, "metadata", None)
    return metadata.to_dict() if metadata is not None else {}


def _session_result(event_type: str, session: dict) -> PaymentResult:
    paid = session.get("payment_status") in ("paid", "no_payment_required")
    if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded") and paid:
        status = "success"
    elif event_type == "checkout.session.async_payment_failed":
        status = "failed"
    elif event_type == "checkout.session.expired":
        status = "closed"
    else:
        status = "pending"
    return PaymentResult(
        out_trade_no=session.get("client_reference_id") or "",
        status=status,
        amount_fen=session.get("amount_total"),
        currency=(session.get("currency") or "").upper(),
        provider_txn_id=session.get("payment_intent") or "",
    )


def _refund(out_refund_no: str, refund) -> RefundResult:
    return RefundResult(
        out_refund_no=out_refund_no,
        status=_REFUND_STATUS.get(refund.status, "pending"),
        amount_fen=refund.amount,
        provider_refund_id=refund.id,
    )

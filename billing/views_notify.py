"""The gateways' notify endpoint and the payment simulator's pages, on the tenant's own host (so the tenant's
keys are chosen before any signature is checked).

Notify: verify (signature and our merchant ids) → store once in the inbox → apply → the gateway's exact ACK.
A rejected notify stores nothing and gets the failure ACK; a genuine one gets the success ACK also when it is a
duplicate or its amount does not match (flagged for finance: retrying would not change the message)."""

import logging

import segno
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from billing.models import Payment, PaymentStatus
from billing.providers.base import NotifyRejected, PaymentProvider
from billing.providers.registry import provider_for
from billing.providers.simulator import LABEL, SimulatorProvider, simulator_transaction_id
from billing.services import notify_handle
from tenant_configs.schema import PaymentChannel

logger = logging.getLogger(__name__)

_CHANNEL_LABELS = {
    "wechat_native": "微信支付（扫码）",
    "wechat_jsapi": "微信支付（小程序）",
    "alipay_page": "支付宝（网页）",
    "alipay_qr": "支付宝（扫码）",
    "stripe": "Stripe",
}


def notify_receive(
    *, channel: str, provider: PaymentProvider, body: bytes, headers: dict[str, str]
) -> tuple[tuple[int, str, str], str]:
    """Verify and apply one notify; returns the provider's ACK and the outcome (`rejected` or what
    services.notify_handle answered)."""
    try:
        parsed = provider.parse_notify(body=body, headers=headers)
    except NotifyRejected as error:
        logger.warning(
            "payment notify rejected",
            extra={"schema": connection.schema_name, "channel": channel, "reason": str(error)},
        )
        return provider.ack(ok=False), "rejected"
    outcome = notify_handle(channel=channel, parsed=parsed)
    if outcome not in ("confirmed", "duplicate", "ignored", "refunded", "pending"):
        logger.warning(
            "payment notify needs attention",
            extra={"schema": connection.schema_name, "channel": channel, "outcome": outcome},
        )
    return provider.ack(ok=True), outcome


def _provider_or_404(channel: str) -> PaymentProvider:
    if channel not in PaymentChannel.__members__.values():
        raise Http404("unknown channel")
    provider = provider_for(channel)
    if provider is None:
        raise Http404("channel not configured")
    return provider


@csrf_exempt
@require_POST
def notify(request: HttpRequest, channel: str) -> HttpResponse:
    provider = _provider_or_404(channel)
    (status, content_type, body), _ = notify_receive(
        channel=channel, provider=provider, body=request.body, headers=dict(request.headers)
    )
    return HttpResponse(body, status=status, content_type=content_type)


# --- simulator --------------------------------------------------------------------------------------------


def _simulated_payment(out_trade_no: str) -> tuple[Payment, SimulatorProvider]:
    if not settings.PAYMENT_SIMULATOR:
        raise Http404("simulator disabled")
    payment = get_object_or_404(Payment, out_trade_no=out_trade_no)
    provider = provider_for(payment.channel)
    if not isinstance(provider, SimulatorProvider):
        raise Http404("this channel uses a real gateway")  # a tenant with merchant keys is never simulated
    return payment, provider


def _safe_return(request: HttpRequest, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return ""


@require_http_methods(["GET", "POST"])
def simulator(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    payment, provider = _simulated_payment(out_trade_no)
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome not in ("pay", "fail"):
            return HttpResponse("outcome must be pay or fail", status=400, content_type="text/plain")
        body = provider.notify_body(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            currency=payment.currency,
            paid=outcome == "pay",
        )
        # Delivered in-process through the same path a gateway's POST takes.
        notify_receive(channel=payment.channel, provider=provider, body=body, headers={})
        return HttpResponseRedirect(_safe_return(request, request.POST.get("return", "")) or request.path)
    page_url = request.build_absolute_uri(request.path)
    return render(
        request,
        "billing/simulator/pay.html",
        {
            "label": LABEL,
            "payment": payment,
            "amount_yuan": f"{payment.amount_fen // 100}.{payment.amount_fen % 100:02d}",
            "channel_label": _CHANNEL_LABELS.get(payment.channel, payment.channel),
            "paid": payment.status == PaymentStatus.CONFIRMED,
            "qr_svg": segno.make(page_url, error="m").svg_inline(scale=4, title=LABEL),
            "return_url": _safe_return(request, request.GET.get("return", "")),
            "transaction_id": simulator_transaction_id(payment.out_trade_no),
        },
    )

"""退款申请: the payer (a person, or a company operator for its company's orders) asks for the whole payment
of a paid order back, with a reason from the rules' list and an optional note, where the rules allow refunds
(miniapp: paid, not attended). The order detail shows the refund's state (退款审核中 / 已退款 / 退款失败 …).

The view reads the form and calls services.refund_request_by_payer; what may be refunded is the service's
business (it locks the payment, so asking twice cannot reserve the money twice)."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing import selectors
from billing.models import Order
from billing.services import BillingError, refund_request_by_payer
from billing.views import order_refund_offered, payer_required
from shared.accounts.models import User
from shared.money import format_yuan
from tenant_configs.selectors import rules_current

REASON_MAX = 200
MESSAGES = {
    "amount_exceeds_paid": "该订单已申请过退款，请勿重复提交",
}


def _order(user: User, order_id: int) -> Order:
    try:
        return selectors.order_get_for_payer(order_id=order_id, payer=user)
    except Order.DoesNotExist:
        raise Http404 from None


def _reason(post) -> str:
    """The chosen reason, with the payer's note after a full-width colon (the rules match the part before)."""
    reason = post.get("reason", "").strip()
    note = " ".join(post.get("note", "").split())
    return (f"{reason}：{note}" if reason and note else reason or note)[:REASON_MAX]


def _render(request: HttpRequest, order: Order, *, error: str = "", status: int = 200, chosen: str = ""):
    refunds = rules_current().billing.refunds
    latest = selectors.refund_latest_for_order(order=order)
    return render(
        request,
        "billing/order_refund.html",
        {
            "order": order,
            "total": format_yuan(order.total_fen),
            "reasons": refunds.reasons,
            "chosen": chosen,
            "note": request.POST.get("note", "") if request.method == "POST" else "",
            "latest": latest,
            "offered": order_refund_offered(order, latest),
            "enabled": refunds.enabled,
            "error": error,
        },
        status=status,
    )


@payer_required
@require_http_methods(["GET", "POST"])
def order_refund(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request.user, order_id)
    if request.method == "GET":
        return _render(request, order)
    chosen = request.POST.get("reason", "").strip()
    reason = _reason(request.POST)
    if not reason:
        return _render(request, order, error="请选择或填写退款原因", status=400)
    try:
        refund = refund_request_by_payer(
            rules=rules_current(), order_id=order.pk, actor=request.user, reason=reason
        )
    except BillingError as error:
        status = 403 if error.code == "refunds_disabled" else 400
        return _render(
            request, order, error=MESSAGES.get(error.code, error.message), status=status, chosen=chosen
        )
    messages.success(
        request,
        f"退款申请已提交（退款单号 {refund.out_refund_no}，{format_yuan(refund.amount_fen)} 元），请等待协会审核。",
    )
    return redirect("billing:order", order_id=order.pk)

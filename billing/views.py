"""缴费、订单与财务: the payer's pages (choose the people, preview the split, confirm the orders; orders
list and details with continue paying, change of channel, transfer proof and cancel) and the finance
console (transfers to confirm, invoices to issue, refunds to decide, the daily report and its export).

Views read the POST, call one service and render the outcome; the selectors say what an account may
see (anything else is a 404, exactly like an id that does not exist).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps
from io import BytesIO

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing import selectors, split
from billing.einvoice import PLATFORM_INVOICE_TYPES, einvoice_settings
from billing.models import Invoice, Order, OrderStatus, Payment, PaymentStatus, Refund, RefundStatus
from billing.providers.base import GatewayError, PaymentRequest
from billing.providers.registry import provider_for
from billing.services import (
    BillingError,
    OrderRequest,
    billable_items,
    fee_billable_items,
    invoice_issue_by_finance,
    invoice_issue_electronic,
    order_cancel,
    orders_create,
    payment_create,
    payment_finance_decide,
    payment_proof_attach,
    payment_start,
    refund_decide,
)
from membership import selectors as membership_selectors
from registration.models import Application
from shared.accounts.models import InvoiceTitle, User, UserKind
from shared.documents.checks import UploadProblem
from shared.documents.models import Document
from shared.documents.services import DocumentError, document_upload
from shared.money import MoneyError, fen_to_yuan, format_yuan, yuan_to_fen
from shared.permissions import staff_required
from tenant_configs.schema import DocumentSpec, PaymentChannel, PledgeStage, Rules
from tenant_configs.selectors import rules_current, rules_current_version

PROOF_SPEC = DocumentSpec(key="transfer_proof", label="汇款凭证", formats=("jpg", "png", "pdf"), max_kb=10240)
MATERIALS_LABELS = {True: "含培训资料", False: "不含培训资料", None: "—"}
REPORT_DAYS = 30
# The gateways' notify endpoint (billing/urls_pay.py, mounted at pay/), should it not be routed.
NOTIFY_PATH = "/pay/notify/{channel}/"


def _channel_label(channel: str) -> str:
    return split.CHANNEL_LABELS.get(channel, channel)


def _invoice_type_label(invoice_type: str) -> str:
    return split.INVOICE_TYPE_LABELS.get(invoice_type, invoice_type) if invoice_type else "不开发票"


def _payer_name(order: Order) -> str:
    if order.payer_company_id:
        return order.payer_company.name
    profile = getattr(order.payer_person, "profile", None)
    return (profile.name if profile is not None else "") or str(order.payer_person)


# ---------------------------------------------------------------------------------------------------------
# who pays
# ---------------------------------------------------------------------------------------------------------


def _is_payer_account(user: User) -> bool:
    return user.is_active and (
        (user.kind == UserKind.COMPANY and user.company_id is not None) or user.kind == UserKind.PERSON
    )


def _payer_may_pay(rules: Rules, user: User) -> bool:
    payer = rules.billing.payer.value
    if user.kind == UserKind.COMPANY:
        return payer in ("company", "company_or_student")
    return payer in ("student", "company_or_student")


def payer_required(view):
    """A company operator or a person; which orders they see is the selectors' business."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not _is_payer_account(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _order(request: HttpRequest, order_id: int) -> Order:
    try:
        return selectors.order_get_for_payer(order_id=order_id, payer=request.user)
    except Order.DoesNotExist:
        raise Http404 from None


# ---------------------------------------------------------------------------------------------------------
# 去缴费: choose, preview, confirm
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayChoice:
    """What the payer chose on the page, as posted."""

    application_ids: list[int]
    fee_ids: list[int]
    channel: str
    invoice_type: str
    invoice_title_id: int | None
    receipt_email: str
    pledges: dict[str, str]

    @classmethod
    def from_post(cls, post) -> "PayChoice":
        ids = [int(value) for value in post.getlist("application_ids") if value.isdigit()]
        fee_ids = [int(value) for value in post.getlist("fee_ids") if value.isdigit()]
        title = post.get("invoice_title", "")
        return cls(
            application_ids=list(dict.fromkeys(ids)),
            fee_ids=list(dict.fromkeys(fee_ids)),
            channel=post.get("channel", ""),
            invoice_type=post.get("invoice_type", ""),
            invoice_title_id=int(title) if title.isdigit() else None,
            receipt_email=post.get("receipt_email", "").strip()[:254],
            pledges={
                key.removeprefix("pledge_"): value
                for key, value in post.items()
                if key.startswith("pledge_") and value
            },
        )


def _payment_pledges(rules: Rules, applications: list[Application]) -> list:
    seen = {}
    for application in applications:
        try:
            program = rules.program(application.program.code)
        except KeyError:
            continue
        for pledge in program.pledges:
            if pledge.stage == PledgeStage.PAYMENT:
                seen.setdefault(pledge.key, pledge)
    return list(seen.values())


def _invoice_types_offered(rules: Rules, channel: str) -> list[tuple[str, str]]:
    try:
        types = split.invoice_types_for(billing=rules.billing, channel=PaymentChannel(channel))
    except ValueError:
        types = ()
    return [(item.value, split.INVOICE_TYPE_LABELS[item]) for item in types]


def _title_snapshot(title: InvoiceTitle) -> dict[str, str]:
    return {
        "title": title.title,
        "tax_number": title.tax_number,
        "address_phone": title.address_phone,
        "bank_account": title.bank_account,
        "email": title.email,
        "mailing_address": title.mailing_address,
    }


def _preview(rules: Rules, applications: list[Application], fees: list, choice: PayChoice) -> dict:
    plan = split.plan(
        items=billable_items(rules=rules, applications=applications) + fee_billable_items(fees=fees),
        billing=rules.billing,
        channel=choice.channel,
        invoice_type=choice.invoice_type or None,
    )
    running = 0
    orders = []
    for number, proposed in enumerate(plan.orders, start=1):
        running += proposed.total_fen
        orders.append(
            {
                "number": number,
                "count": len(proposed.items),
                "materials": MATERIALS_LABELS[proposed.with_materials],
                "total": format_yuan(proposed.total_fen),
                "running": format_yuan(running),
                "labels": [item.label for item in proposed.items],
                "above_cap": proposed.above_cap,
            }
        )
    return {
        "orders": orders,
        "notes": list(plan.notes),
        "problems": [problem.message for problem in plan.problems],
        "free": [item.label for item in plan.free_items],
        "total": format_yuan(plan.total_fen),
        "allowed": plan.allowed,
    }


def _render_pay(
    request: HttpRequest,
    *,
    rules: Rules,
    choice: PayChoice | None,
    preview: dict | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    applications = list(selectors.payable_applications(payer=request.user))
    fees = list(membership_selectors.fees_payable(payer=request.user))
    channel = choice.channel if choice else (rules.billing.channels[0] if rules.billing.channels else "")
    titles = list(selectors.invoice_titles_for_payer(payer=request.user))
    default_title = next((title for title in titles if title.is_default), titles[0] if titles else None)
    return render(
        request,
        "billing/pay.html",
        {
            "rows": [
                {
                    "application": application,
                    "name": getattr(getattr(application.person, "profile", None), "name", "")
                    or str(application.person),
                    "materials": MATERIALS_LABELS[application.with_materials],
                    "fee": format_yuan(application.fee_fen),
                }
                for application in applications
            ],
            "fee_rows": [
                {
                    "fee": fee,
                    "name": fee.membership.answers.get("name", ""),
                    "amount": format_yuan(fee.amount_fen),
                }
                for fee in fees
            ],
            "checked": set(choice.application_ids) if choice else set(),
            "checked_fees": set(choice.fee_ids) if choice else set(),
            "channels": [(item.value, _channel_label(item)) for item in rules.billing.channels],
            "channel": channel,
            "invoice_types": _invoice_types_offered(rules, channel),
            "invoice_type": choice.invoice_type if choice else "",
            "titles": titles,
            "title_id": choice.invoice_title_id if choice else (default_title.pk if default_title else None),
            "receipt_email": choice.receipt_email
            if choice
            else (default_title.email if default_title else ""),
            "pledges": _payment_pledges(rules, applications),
            "accepted": choice.pledges if choice else {},
            "receipt_email_required": rules.billing.receipt_email_required,
            "preview": preview,
            "error": error,
        },
        status=status,
    )


def _pay_allowed(request: HttpRequest) -> Rules:
    rules = rules_current()
    if not _payer_may_pay(rules, request.user):
        raise PermissionDenied
    return rules


@payer_required
@require_GET
def pay(request: HttpRequest) -> HttpResponse:
    return _render_pay(request, rules=_pay_allowed(request), choice=None)


@payer_required
@require_GET
def pay_invoice_types(request: HttpRequest) -> HttpResponse:
    """htmx: the invoice types the chosen channel may ask for (the select's options)."""
    rules = _pay_allowed(request)
    return render(
        request,
        "billing/_invoice_type_options.html",
        {"invoice_types": _invoice_types_offered(rules, request.GET.get("channel", "")), "invoice_type": ""},
    )


@payer_required
@require_POST
def pay_submit(request: HttpRequest) -> HttpResponse:
    """预览 shows the proposed orders; 确认并生成订单 creates them. A refusal creates nothing."""
    rules = _pay_allowed(request)
    choice = PayChoice.from_post(request.POST)
    payable = {
        application.pk: application for application in selectors.payable_applications(payer=request.user)
    }
    if any(pk not in payable for pk in choice.application_ids):
        return _render_pay(
            request,
            rules=rules,
            choice=choice,
            error="所选人员已不可缴费（已在其他订单中或报名状态已变化），请重新选择",
        )
    applications = [application for pk, application in payable.items() if pk in set(choice.application_ids)]
    payable_fees = {fee.pk: fee for fee in membership_selectors.fees_payable(payer=request.user)}
    if any(pk not in payable_fees for pk in choice.fee_ids):
        return _render_pay(
            request,
            rules=rules,
            choice=choice,
            error="所选会费已不可缴纳（已在其他订单中或会员状态已变化），请重新选择",
        )
    fees = [fee for pk, fee in payable_fees.items() if pk in set(choice.fee_ids)]
    title: InvoiceTitle | None = None
    if choice.invoice_type:
        try:
            title = selectors.invoice_title_get_for_payer(
                title_id=choice.invoice_title_id or 0, payer=request.user
            )
        except InvoiceTitle.DoesNotExist:
            return _render_pay(request, rules=rules, choice=choice, error="开具发票请选择发票抬头")
    preview = _preview(rules, applications, fees, choice)
    if request.POST.get("action") != "confirm":
        return _render_pay(request, rules=rules, choice=choice, preview=preview)
    try:
        orders = orders_create(
            rules=rules,
            rules_version=rules_current_version().number,
            actor=request.user,
            request=OrderRequest(
                application_ids=[application.pk for application in applications],
                channel=choice.channel,
                invoice_type=choice.invoice_type or None,
                invoice_title=_title_snapshot(title) if title else {},
                receipt_email=choice.receipt_email,
                pledges=choice.pledges,
                membership_fee_ids=[fee.pk for fee in fees],
            ),
        )
    except BillingError as error:
        return _render_pay(request, rules=rules, choice=choice, preview=preview, error=error.message)
    if orders:
        total = format_yuan(sum(order.total_fen for order in orders))
        messages.success(request, f"已生成 {len(orders)} 个订单，合计 {total} 元，请逐个完成支付。")
    else:
        messages.success(request, "所选人员无需缴费，已确认报名。")
    return redirect("billing:orders")


# ---------------------------------------------------------------------------------------------------------
# 订单
# ---------------------------------------------------------------------------------------------------------


@payer_required
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    rows = [
        {
            "order": order,
            "total": format_yuan(order.total_fen),
            "channel": _channel_label(order.channel),
        }
        for order in selectors.orders_for_payer(payer=request.user)
    ]
    return render(request, "billing/orders.html", {"rows": rows})


# Refunds that hold the money: while one exists the payer cannot ask again.
REFUND_HOLDS_MONEY = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.REFUNDED)


def order_refund_offered(order: Order, latest: Refund | None) -> bool:
    """Whether the order page offers 申请退款: the rules allow refunds, the order is paid and no refund holds
    its money. The service checks the rest (attendance, the reason) when the payer asks."""
    return (
        rules_current().billing.refunds.enabled
        and order.status == OrderStatus.PAID
        and (latest is None or latest.status not in REFUND_HOLDS_MONEY)
    )


def _render_detail(request: HttpRequest, order: Order, *, error: str = "", status: int = 200) -> HttpResponse:
    rules = rules_current()
    transfer = rules.billing.offline_transfer
    invoice = Invoice.objects.filter(order=order).first()
    payments = list(order.payments.all())
    current_offline = selectors.offline_payment_current(order=order)
    latest_online = next(
        (
            payment
            for payment in payments
            if payment.channel != PaymentChannel.OFFLINE_TRANSFER
            and payment.channel == order.channel
            and payment.status == PaymentStatus.CREATED
        ),
        None,
    )
    is_open = order.status == OrderStatus.OPEN
    latest_refund = selectors.refund_latest_for_order(order=order)
    return render(
        request,
        "billing/order_detail.html",
        {
            "order": order,
            "latest": latest_refund,
            "offered": order_refund_offered(order, latest_refund),
            "is_open": is_open,
            "total": format_yuan(order.total_fen),
            "channel": _channel_label(order.channel),
            "items": [{"item": item, "amount": format_yuan(item.amount_fen)} for item in order.items.all()],
            "materials": MATERIALS_LABELS[order.with_materials],
            "invoice": invoice,
            "invoice_type": _invoice_type_label(order.invoice_type),
            "payments": [
                {
                    "payment": payment,
                    "channel": _channel_label(payment.channel),
                    "amount": format_yuan(payment.amount_fen),
                }
                for payment in payments
            ],
            "is_offline": order.channel == PaymentChannel.OFFLINE_TRANSFER,
            "transfer": transfer,
            "waiting_for_finance": current_offline is not None
            and current_offline.status == PaymentStatus.PENDING,
            "rejected_proof": next(
                (
                    payment
                    for payment in payments
                    if payment.channel == PaymentChannel.OFFLINE_TRANSFER
                    and payment.status == PaymentStatus.FAILED
                    and payment.decision_note
                ),
                None,
            ),
            "online_action": latest_online.action if latest_online else None,
            "other_channels": [
                (item.value, _channel_label(item)) for item in rules.billing.channels if item != order.channel
            ],
            "error": error,
        },
        status=status,
    )


@payer_required
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    return _render_detail(request, _order(request, order_id))


def _notify_url(request: HttpRequest, channel: str) -> str:
    try:
        path = reverse("pay:notify", kwargs={"channel": channel})
    except NoReverseMatch:
        path = NOTIFY_PATH.format(channel=channel)
    return request.build_absolute_uri(path)


@payer_required
@require_POST
def order_pay(request: HttpRequest, order_id: int) -> HttpResponse:
    """继续支付 (the order's channel) or 更换支付方式 (another offered channel): a new payment attempt."""
    order = _order(request, order_id)
    rules = rules_current()
    channel = request.POST.get("channel") or order.channel
    if channel not in rules.billing.channels:
        return _render_detail(request, order, error="请选择本协会提供的支付方式", status=400)
    if order.invoice_type and order.invoice_type not in {
        value for value, _ in _invoice_types_offered(rules, channel)
    }:
        return _render_detail(
            request,
            order,
            error=f"本订单申请的{_invoice_type_label(order.invoice_type)}不能通过{_channel_label(channel)}开具，请选择其他支付方式",
            status=400,
        )
    provider = None
    if channel != PaymentChannel.OFFLINE_TRANSFER:
        provider = provider_for(channel)
        if provider is None:
            return _render_detail(
                request, order, error=f"{_channel_label(channel)}暂未开通，请选择其他支付方式", status=400
            )
    elif channel == order.channel and selectors.offline_payment_current(order=order) is not None:
        return redirect("billing:order", order_id=order.pk)  # already waiting for the transfer
    try:
        payment = payment_create(order_id=order.pk, actor=request.user, channel=channel)
    except BillingError as error:
        return _render_detail(request, order, error=error.message, status=400)
    if provider is not None:
        try:
            action = payment_start(
                payment=payment,
                provider=provider,
                request=PaymentRequest(
                    out_trade_no=payment.out_trade_no,
                    amount_fen=payment.amount_fen,
                    currency=payment.currency,
                    subject=f"{rules.association.name} 培训费 {order.items.count()} 人",
                    notify_url=_notify_url(request, channel),
                    return_url=request.build_absolute_uri(reverse("billing:order", args=[order.pk])),
                    expires_at_iso=order.expires_at.isoformat() if order.expires_at else "",
                    client_ip=request.META.get("REMOTE_ADDR", "127.0.0.1"),
                ),
            )
        except GatewayError:
            order.refresh_from_db()
            return _render_detail(request, order, error="支付平台暂时无法连接，请稍后重试", status=502)
        if action.kind == "redirect" and action.url:
            return redirect(action.url)
    return redirect("billing:order", order_id=order.pk)


@payer_required
@require_POST
def order_proof(request: HttpRequest, order_id: int) -> HttpResponse:
    """上传汇款凭证 (jpg / png / pdf) for the order's transfer; the order then waits for finance."""
    order = _order(request, order_id)
    upload = request.FILES.get("proof")
    if upload is None:
        return _render_detail(request, order, error="请选择汇款凭证文件", status=400)
    if order.status != OrderStatus.OPEN or order.channel != PaymentChannel.OFFLINE_TRANSFER:
        return _render_detail(request, order, error="只有待支付的线下汇款订单需要上传凭证", status=400)
    user = request.user
    try:
        document = document_upload(
            owner=user,
            key=f"transfer_proof:{order.number}",
            spec=PROOF_SPEC,
            data=upload.read(),
            filename=upload.name,
            review_required=False,
            company=user.company if user.kind == UserKind.COMPANY else None,
        )
    except (UploadProblem, DocumentError) as problem:
        return _render_detail(request, order, error=f"汇款凭证：{problem.message}", status=400)
    try:
        payment = selectors.offline_payment_current(order=order) or payment_create(
            order_id=order.pk, actor=user, channel=PaymentChannel.OFFLINE_TRANSFER
        )
        payment_proof_attach(payment_id=payment.pk, actor=user, document_id=document.pk)
    except BillingError as error:
        return _render_detail(request, order, error=error.message, status=400)
    messages.success(request, "汇款凭证已上传，等待协会财务确认到账。")
    return redirect("billing:order", order_id=order.pk)


@payer_required
@require_POST
def order_cancel_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    try:
        order_cancel(order_id=order.pk, actor=request.user, reason="付款方取消")
    except BillingError as error:
        return _render_detail(request, order, error=error.message, status=400)
    messages.success(request, f"订单 {order.number} 已取消，其中的人员可以重新缴费。")
    return redirect("billing:orders")


# ---------------------------------------------------------------------------------------------------------
# 财务
# ---------------------------------------------------------------------------------------------------------


def _finance(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(
        request,
        template,
        {"base_template": "console/base.html", "console_section": "finance", **context},
        status=status,
    )


def _transfer_rows() -> list[dict]:
    return [
        {
            "payment": payment,
            "payer": _payer_name(payment.order),
            "expected": format_yuan(payment.amount_fen),
            "expected_yuan": fen_to_yuan(payment.amount_fen),
            "flag": payment.order.needs_attention,
        }
        for payment in selectors.transfers_pending()
    ]


@staff_required("finance")
@require_GET
def finance_transfers(request: HttpRequest) -> HttpResponse:
    return _finance(request, "billing/finance/transfers.html", {"rows": _transfer_rows(), "tab": "transfers"})


@staff_required("finance")
@require_GET
def finance_transfer_proof(request: HttpRequest, payment_id: int) -> FileResponse:
    """The proof of a transfer waiting for finance (finance staff do not see people's other documents)."""
    try:
        payment = selectors.transfer_get_pending(payment_id=payment_id)
    except Payment.DoesNotExist:
        raise Http404 from None
    if payment.proof is None:
        raise Http404
    document: Document = payment.proof
    try:
        handle = document.file.storage.open(document.file.name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    extension = document.file.name.rsplit(".", 1)[-1] if "." in document.file.name else "bin"
    response = FileResponse(
        handle, content_type=document.content_type, filename=f"transfer-proof-{payment.pk}.{extension}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


TRANSFER_OUTCOMES = {
    "confirmed": (messages.SUCCESS, "已确认到账，订单 {number} 已支付。"),
    "amount_mismatch": (
        messages.WARNING,
        "到账金额 {received} 元与应付金额 {expected} 元不符：订单 {number} 已标记待处理，未确认支付。",
    ),
    "paid_after_cancel": (messages.WARNING, "订单 {number} 已取消，到账已记录并标记待退款。"),
    "paid_twice": (messages.WARNING, "订单 {number} 已支付过，本次到账已标记待退款。"),
    "duplicate": (messages.INFO, "该汇款已确认过。"),
    "rejected": (messages.SUCCESS, "已退回订单 {number} 的汇款凭证，付款方可重新上传。"),
}


@staff_required("finance")
@require_POST
def finance_transfer_decide(request: HttpRequest, payment_id: int) -> HttpResponse:
    try:
        payment = selectors.transfer_get_pending(payment_id=payment_id)
    except Payment.DoesNotExist:
        raise Http404 from None
    approve = request.POST.get("decision") == "confirm"
    received_fen = None
    if approve:
        try:
            received_fen = yuan_to_fen(request.POST.get("received", ""))
        except MoneyError:
            return _finance(
                request,
                "billing/finance/transfers.html",
                {
                    "rows": _transfer_rows(),
                    "tab": "transfers",
                    "error": "请填写实际到账金额（元，最多两位小数）",
                },
                status=400,
            )
    try:
        outcome = payment_finance_decide(
            payment_id=payment.pk,
            actor=request.user,
            approve=approve,
            received_fen=received_fen,
            note=request.POST.get("note", ""),
        )
    except BillingError as error:
        return _finance(
            request,
            "billing/finance/transfers.html",
            {"rows": _transfer_rows(), "tab": "transfers", "error": error.message},
            status=400,
        )
    level, text = TRANSFER_OUTCOMES.get(outcome, (messages.INFO, "已处理（{outcome}）。"))
    messages.add_message(
        request,
        level,
        text.format(
            number=payment.order.number,
            received=format_yuan(received_fen or 0),
            expected=format_yuan(payment.amount_fen),
            outcome=outcome,
        ),
    )
    return redirect("billing:finance-transfers")


def _invoice_rows() -> list[dict]:
    return [
        {
            "invoice": invoice,
            "payer": _payer_name(invoice.order),
            "type": _invoice_type_label(invoice.invoice_type),
            "amount": format_yuan(invoice.amount_fen),
            "paid": invoice.order.status == OrderStatus.PAID,
            "electronic": invoice.invoice_type in PLATFORM_INVOICE_TYPES,
        }
        for invoice in selectors.invoices_requested()
    ]


def _invoices_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    return _finance(
        request,
        "billing/finance/invoices.html",
        {
            "rows": _invoice_rows(),
            "tab": "invoices",
            "today": timezone.localdate(),
            "einvoice_configured": einvoice_settings() is not None,
            "error": error,
        },
        status=status,
    )


@staff_required("finance")
@require_GET
def finance_invoices(request: HttpRequest) -> HttpResponse:
    return _invoices_page(request)


def _requested_invoice(invoice_id: int) -> Invoice:
    try:
        return selectors.invoices_requested().get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404 from None


@staff_required("finance")
@require_POST
def finance_invoice_issue(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Finance registers an invoice issued on the tax-control device (number, date, optional PDF)."""
    invoice = _requested_invoice(invoice_id)
    try:
        issued_on = date.fromisoformat(request.POST.get("issued_on", ""))
    except ValueError:
        return _invoices_page(request, error="请填写开票日期", status=400)
    upload = request.FILES.get("pdf")
    try:
        invoice_issue_by_finance(
            invoice_id=invoice.pk,
            actor=request.user,
            number=request.POST.get("number", ""),
            issued_on=issued_on,
            pdf=(upload.read(), upload.name) if upload is not None else None,
        )
    except BillingError as error:
        return _invoices_page(request, error=error.message, status=400)
    messages.success(request, f"订单 {invoice.order.number} 的发票已开具。")
    return redirect("billing:finance-invoices")


@staff_required("finance")
@require_POST
def finance_invoice_issue_electronic(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """电子开票: the tenant's e-invoice platform issues the invoice."""
    invoice = _requested_invoice(invoice_id)
    try:
        issued = invoice_issue_electronic(invoice_id=invoice.pk, actor=request.user)
    except BillingError as error:
        return _invoices_page(request, error=error.message, status=400)
    messages.success(request, f"订单 {invoice.order.number} 的电子发票已开具（发票号码 {issued.number}）。")
    return redirect("billing:finance-invoices")


def _refund_rows() -> list[dict]:
    return [
        {
            "refund": refund,
            "order": refund.payment.order,
            "payer": _payer_name(refund.payment.order),
            "amount": format_yuan(refund.amount_fen),
            "paid": format_yuan(refund.payment.amount_fen),
        }
        for refund in selectors.refunds_requested()
    ]


@staff_required("finance")
@require_GET
def finance_refunds(request: HttpRequest) -> HttpResponse:
    return _finance(request, "billing/finance/refunds.html", {"rows": _refund_rows(), "tab": "refunds"})


@staff_required("finance")
@require_POST
def finance_refund_decide(request: HttpRequest, refund_id: int) -> HttpResponse:
    try:
        refund = selectors.refunds_requested().get(pk=refund_id)
    except Refund.DoesNotExist:
        raise Http404 from None
    approve = request.POST.get("decision") == "approve"
    try:
        refund_decide(
            refund_id=refund.pk,
            actor=request.user,
            approve=approve,
            note=request.POST.get("note", ""),
            second_person=rules_current().billing.refunds.second_person_approval,
        )
    except BillingError as error:
        return _finance(
            request,
            "billing/finance/refunds.html",
            {"rows": _refund_rows(), "tab": "refunds", "error": error.message},
            status=400,
        )
    messages.success(request, f"退款 {refund.out_refund_no} 已{'同意' if approve else '拒绝'}。")
    return redirect("billing:finance-refunds")


def _report_range(request: HttpRequest) -> tuple[date, date, str]:
    today = timezone.localdate()
    try:
        end = date.fromisoformat(request.GET.get("end", "")) if request.GET.get("end") else today
        start = (
            date.fromisoformat(request.GET.get("start", ""))
            if request.GET.get("start")
            else end - timedelta(days=REPORT_DAYS - 1)
        )
    except ValueError:
        return today - timedelta(days=REPORT_DAYS - 1), today, "日期格式不正确，已显示最近 30 天"
    if start > end:
        return end, end, "开始日期晚于结束日期，已只显示结束日期当天"
    return start, end, ""


@staff_required("finance")
@require_GET
def finance_report(request: HttpRequest) -> HttpResponse:
    start, end, error = _report_range(request)
    report = selectors.payments_report(start=start, end=end)
    return _finance(
        request,
        "billing/finance/report.html",
        {
            "tab": "report",
            "report": report,
            "days": [{**row, "total": format_yuan(row["total_fen"])} for row in report.days],
            "channels": [
                {**row, "label": _channel_label(row["channel"]), "total": format_yuan(row["total_fen"])}
                for row in report.channels
            ],
            "total": format_yuan(report.total_fen),
            "refunded": format_yuan(report.refunded_fen),
            "error": error,
        },
    )


EXPORT_COLUMNS = ("确认时间", "订单号", "付款方", "支付方式", "支付流水号", "金额（元）", "到账（元）")


@staff_required("finance")
@require_GET
def finance_report_export(request: HttpRequest) -> HttpResponse:
    """The confirmed payments of the range as an Excel sheet (amounts as numbers in yuan, 2 decimals)."""
    from openpyxl import Workbook

    start, end, _ = _report_range(request)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "已确认支付"
    sheet.append(EXPORT_COLUMNS)
    for payment in selectors.payments_confirmed(start=start, end=end):
        received = payment.received_fen if payment.received_fen is not None else payment.amount_fen
        sheet.append(
            [
                timezone.localtime(payment.confirmed_at).strftime("%Y-%m-%d %H:%M:%S"),
                payment.order.number,
                _payer_name(payment.order),
                _channel_label(payment.channel),
                payment.out_trade_no,
                fen_to_yuan(payment.amount_fen),
                fen_to_yuan(received),
            ]
        )
    for row in sheet.iter_rows(min_row=2, min_col=6, max_col=7):
        for cell in row:
            cell.number_format = "#,##0.00"
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="payments-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"'
    return response


_ATTENTION_LABELS = {
    "unknown_payment": "找不到对应的支付",
    "amount_mismatch": "金额不符",
    "paid_after_cancel": "订单取消后到账（需退款或恢复）",
    "paid_twice": "重复支付（需退款）",
    "unknown_refund": "找不到对应的退款",
}


@staff_required("finance")
def finance_reconciliation(request: HttpRequest) -> HttpResponse:
    notifies, orders = selectors.reconciliation_items()
    return _finance(
        request,
        "billing/finance/reconciliation.html",
        {
            "tab": "reconciliation",
            "notifies": [
                {"event": event, "label": _ATTENTION_LABELS.get(event.outcome, event.outcome)}
                for event in notifies
            ],
            "orders": [
                {
                    "order": order,
                    "label": _ATTENTION_LABELS.get(
                        order.needs_attention.split(":")[0], order.needs_attention
                    ),
                    "detail": order.needs_attention.partition(":")[2],
                    "amount": format_yuan(order.total_fen),
                }
                for order in orders
            ],
        },
    )

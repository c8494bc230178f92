"""Billing services: orders from a selection, payment attempts, the one idempotent payment transition,
offline transfers with proof and finance confirmation, cancellation and expiry, refunds, invoices.

Rules in force come in as the narrow `Rules` object; the split is the pure `billing.split.plan`.
Gateway calls never happen inside a transaction that holds row locks (STYLE.md): a payment row is
written first, the provider is called, then the result is stored.
"""

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing import split
from billing.einvoice import (
    EInvoiceError,
    EInvoiceLine,
    EInvoiceRequest,
    EInvoiceResult,
    ManualProvider,
    RedFlushRequest,
    einvoice_provider,
)
from billing.models import (
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    NotifyEvent,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.providers.base import (
    GatewayError,
    ParsedNotify,
    PaymentAction,
    PaymentProvider,
    PaymentRequest,
    PaymentResult,
    RefundResult,
)
from certificates.services import certificates_issue_on_payment
from membership.models import FeeStatus, MembershipFee, MembershipStatus
from membership.services import membership_fees_mark_paid
from registration.models import Application, ApplicationStatus
from registration.services import applications_mark_paid
from shared.accounts.models import User, UserKind
from shared.documents.checks import UploadProblem
from shared.documents.models import Document
from shared.documents.services import DocumentError, document_upload
from shared.errors import CodedError
from shared.services import audit_record
from tenant_configs.schema import BillingRules, DocumentSpec, PaymentChannel, PledgeStage, Rules
from tenant_configs.selectors import rules_current


class BillingError(CodedError):
    """A billing operation refused: stable `code`, Chinese `message`; nothing changed."""


@dataclass(frozen=True)
class OrderRequest:
    application_ids: Sequence[int]
    channel: str
    invoice_type: str | None
    invoice_title: dict  # snapshot of a saved InvoiceTitle (抬头, 税号 …), {} when no invoice
    receipt_email: str
    pledges: dict[str, str]  # payment-stage pledge key -> version accepted by the payer
    membership_fee_ids: Sequence[int] = ()  # 会费 due for approved memberships (membership engine)


# ---------------------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------------------


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of a string of digits (catches every single-digit typo and most swaps)."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 0:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return str((10 - total % 10) % 10)


def reference_valid(reference: str, prefix: str) -> bool:
    body = reference.strip().upper()
    if not body.startswith(prefix.upper()):
        return False
    digits = body[len(prefix) :]
    return digits.isdigit() and len(digits) >= 2 and luhn_digit(digits[:-1]) == digits[-1]


def _reference(prefix: str) -> str:
    digits = f"{secrets.randbelow(10**6):06d}"
    return f"{prefix}{digits}{luhn_digit(digits)}"


def _number(now: datetime) -> str:
    return f"{timezone.localtime(now):%Y%m%d}{secrets.randbelow(10**8):08d}"


# ---------------------------------------------------------------------------------------------------------
# proposing and creating orders
# ---------------------------------------------------------------------------------------------------------


def _payer_owns(actor: User, application: Application) -> bool:
    if actor.kind == UserKind.COMPANY:
        return actor.company_id is not None and application.company_id == actor.company_id
    return application.person_id == actor.pk


def billable_items(*, rules: Rules, applications: Sequence[Application]) -> list[split.Item]:
    items = []
    for application in applications:
        name = getattr(getattr(application.person, "profile", None), "name", "") or str(application.person)
        items.append(
            split.Item(
                key=f"application:{application.pk}",
                label=f"{name} · {application.program.name}",
                amount_fen=application.fee_fen,
                with_materials=application.with_materials,
            )
        )
    return items


def fee_billable_items(*, fees: Sequence[MembershipFee]) -> list[split.Item]:
    """Membership fees as billable items: a period's fee, never with training materials."""
    return [
        split.Item(
            key=f"membership_fee:{fee.pk}",
            label=f"{fee.membership.answers.get('name') or fee.membership.person} · 个人会员会费 {fee.years} 年",
            amount_fen=fee.amount_fen,
            with_materials=None,
        )
        for fee in fees
    ]


def _lock_fees(*, actor: User, fee_ids: Sequence[int]) -> list[MembershipFee]:
    """The payer's due fees, locked; a fee of someone else or of a membership not awaiting it refuses all."""
    fees = list(
        MembershipFee.objects.select_for_update(of=("self",))
        .select_related("membership", "membership__person")
        .filter(pk__in=list(fee_ids))
        .order_by("pk")
    )
    if len(fees) != len(set(fee_ids)):
        raise BillingError("not_payable", "所选会费不存在")
    for fee in fees:
        membership = fee.membership
        owned = (
            actor.company_id is not None and membership.company_id == actor.company_id
            if actor.kind == UserKind.COMPANY
            else membership.person_id == actor.pk
        )
        if not owned:
            raise BillingError("not_payable", "所选会费不存在")
        if fee.status != FeeStatus.DUE or membership.status != MembershipStatus.APPROVED:
            raise BillingError(
                "not_payable",
                f"{membership.answers.get('name') or membership.person}的会员当前为「{membership.get_status_display()}」，"
                "不能缴纳会费",
            )
    return fees


def _payment_pledges(rules: Rules, applications: Sequence[Application]):
    seen = {}
    for application in applications:
        for pledge in rules.program(application.program.code).pledges:
            if pledge.stage == PledgeStage.PAYMENT:
                seen[pledge.key] = pledge
    return list(seen.values())


def orders_create(
    *, rules: Rules, rules_version: int, actor: User, request: OrderRequest, now: datetime | None = None
) -> list[Order]:
    """Turn the payer's selection of approved applications into the orders `split.plan` proposes.

    The payer is a company operator (its company's people) or a person (their own), as the rules'
    `billing.payer` allows. Every selected application must be approved and not already in a live order
    (a database constraint holds that too). Payment-stage pledges (委托培训协议, 企业承诺书) must be accepted.

    Raises BillingError: payer_not_allowed, not_payable (names the application), pledge_required,
    already_in_order, or the plan's first problem (cap, channel, invoice type …). Nothing is written then.
    """
    now = now or timezone.now()
    billing = rules.billing
    payer = billing.payer.value
    if actor.kind == UserKind.COMPANY and payer not in ("company", "company_or_student"):
        raise BillingError("payer_not_allowed", "本协会的培训费不由单位缴纳")
    if actor.kind == UserKind.PERSON and payer not in ("student", "company_or_student"):
        raise BillingError("payer_not_allowed", "本协会的培训费由所在单位统一缴纳")
    if actor.kind not in (UserKind.COMPANY, UserKind.PERSON):
        raise BillingError("payer_not_allowed", "只有单位或学员可以缴费")
    with transaction.atomic():
        applications = list(
            Application.objects.select_for_update(of=("self",))
            .select_related("program", "person__profile")
            .filter(pk__in=list(request.application_ids))
            .order_by("pk")
        )
        if len(applications) != len(set(request.application_ids)):
            raise BillingError("not_payable", "所选报名不存在")
        for application in applications:
            if not _payer_owns(actor, application):
                raise BillingError("not_payable", "所选报名不存在")
            if application.status != ApplicationStatus.APPROVED:
                raise BillingError(
                    "not_payable",
                    f"{application.person}的报名当前为「{application.get_status_display()}」，不能缴费",
                )
        fees = (
            _lock_fees(actor=actor, fee_ids=request.membership_fee_ids) if request.membership_fee_ids else []
        )
        for pledge in _payment_pledges(rules, applications):
            if request.pledges.get(pledge.key) != str(pledge.version):
                raise BillingError("pledge_required", f"请阅读并同意《{pledge.title}》")
        plan = split.plan(
            items=billable_items(rules=rules, applications=applications) + fee_billable_items(fees=fees),
            billing=billing,
            channel=request.channel,
            invoice_type=request.invoice_type or None,
        )
        if plan.problems:
            raise BillingError(plan.problems[0].code, "；".join(problem.message for problem in plan.problems))
        if billing.receipt_email_required and request.invoice_type and not request.receipt_email.strip():
            raise BillingError("receipt_email_required", "请填写接收电子发票的邮箱")
        by_key = {f"application:{application.pk}": application for application in applications}
        fees_by_key = {f"membership_fee:{fee.pk}": fee for fee in fees}
        hours = (
            billing.offline_transfer.deadline_hours
            if request.channel == PaymentChannel.OFFLINE_TRANSFER
            else billing.online_payment_deadline_hours
        )
        orders = []
        for proposed in plan.orders:
            order = _order_create_one(
                rules=rules,
                rules_version=rules_version,
                actor=actor,
                request=request,
                proposed=proposed,
                by_key=by_key,
                fees_by_key=fees_by_key,
                expires_at=now + timedelta(hours=hours) if hours else None,
                now=now,
            )
            orders.append(order)
        free = [by_key[item.key].pk for item in plan.free_items if item.key in by_key]
        if free:
            # Nothing to pay (members train free): paid at once, in no order.
            applications_mark_paid(application_ids=free, rules_version=rules_version, actor=actor, now=now)
        free_fees = [fees_by_key[item.key].pk for item in plan.free_items if item.key in fees_by_key]
        if free_fees:
            membership_fees_mark_paid(fee_ids=free_fees, actor=actor, now=now)
    return orders


def _order_create_one(
    *, rules, rules_version, actor, request, proposed, by_key, fees_by_key, expires_at, now
) -> Order:
    prefix = rules.billing.offline_transfer.reference_prefix
    for _attempt in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=_number(now),
                    reference=_reference(prefix),
                    payer_company_id=actor.company_id if actor.kind == UserKind.COMPANY else None,
                    payer_person=actor if actor.kind == UserKind.PERSON else None,
                    total_fen=proposed.total_fen,
                    currency=rules.billing.currency,
                    with_materials=proposed.with_materials,
                    channel=request.channel,
                    invoice_type=request.invoice_type or "",
                    invoice_title=request.invoice_title if request.invoice_type else {},
                    receipt_email=request.receipt_email.strip(),
                    expires_at=expires_at,
                    rules_version=rules_version,
                    created_by=actor,
                    created_at=now,
                )
                break
        except IntegrityError:
            continue  # a number or reference collided: draw again
    else:
        raise BillingError("number_exhausted", "订单号生成失败，请重试")
    try:
        with transaction.atomic():
            OrderItem.objects.bulk_create(
                OrderItem(
                    order=order,
                    key=item.key,
                    application=by_key.get(item.key),
                    membership_fee=fees_by_key.get(item.key),
                    label=item.label,
                    amount_fen=item.amount_fen,
                )
                for item in proposed.items
            )
    except IntegrityError as error:
        raise BillingError("already_in_order", "所选人员中有人已在其他待支付或已支付的订单中") from error
    LedgerEntry.objects.create(order=order, kind="charge", amount_fen=order.total_fen, created_at=now)
    if order.invoice_type:
        Invoice.objects.create(
            order=order,
            invoice_type=order.invoice_type,
            title=order.invoice_title,
            amount_fen=order.total_fen,
            receipt_email=order.receipt_email,
        )
    audit_record(
        actor=actor,
        action="order.create",
        target=order,
        data={
            "total_fen": order.total_fen,
            "items": [item.key for item in proposed.items],
            "channel": order.channel,
            "pledges": request.pledges,
            "rules_version": rules_version,
        },
    )
    return order


# ---------------------------------------------------------------------------------------------------------
# paying: the one idempotent transition
# ---------------------------------------------------------------------------------------------------------


def _order_mark_paid(*, order: Order, actor: User | None, now: datetime) -> None:
    order.status = OrderStatus.PAID
    order.paid_at = now
    order.save(update_fields=["status", "paid_at"])
    application_ids = list(order.items.exclude(application=None).values_list("application_id", flat=True))
    applications_mark_paid(
        application_ids=application_ids, rules_version=order.rules_version, actor=actor, now=now
    )
    certificates_issue_on_payment(
        rules=rules_current(), application_ids=application_ids, actor=actor, now=now
    )
    fee_ids = list(order.items.exclude(membership_fee=None).values_list("membership_fee_id", flat=True))
    if fee_ids:
        membership_fees_mark_paid(fee_ids=fee_ids, actor=actor, now=now)
    audit_record(actor=actor, action="order.paid", target=order, data={"total_fen": order.total_fen})
    if order.receipt_email:
        from billing.tasks import order_receipt_send_task

        paid_order_id = order.pk
        transaction.on_commit(lambda: order_receipt_send_task.delay(paid_order_id))


def payment_create(
    *,
    order_id: int,
    actor: User,
    channel: str,
    billing: BillingRules | None = None,
    now: datetime | None = None,
) -> Payment:
    """A new payment attempt on an open order (continue paying, or change the channel). Earlier attempts
    that were never paid stay as they are; the gateway's own expiry closes them."""
    now = now or timezone.now()
    billing = billing or rules_current().billing
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != OrderStatus.OPEN:
            raise BillingError("order_not_open", f"订单当前为「{order.get_status_display()}」，不能支付")
        if order.expires_at and order.expires_at <= now and not _has_pending_proof(order):
            raise BillingError("order_expired", "订单已超过支付期限")
        if order.invoice_type and order.invoice_type not in split.invoice_types_for(
            billing=billing, channel=channel
        ):
            raise BillingError(
                "invoice_type_not_allowed", "本订单申请的发票类型不能通过该支付方式开具，请选择其他支付方式"
            )
        order.channel = channel
        order.save(update_fields=["channel"])
        payment = Payment.objects.create(
            order=order,
            channel=channel,
            out_trade_no=f"{order.number}{secrets.randbelow(10**4):04d}",
            amount_fen=order.total_fen,
            currency=order.currency,
            created_at=now,
        )
        audit_record(actor=actor, action="payment.create", target=payment, data={"channel": channel})
    return payment


def payment_start(*, payment: Payment, provider: PaymentProvider, request: PaymentRequest) -> PaymentAction:
    """Ask the gateway for the QR code / redirect / JSAPI parameters, outside any lock, and keep them."""
    action = provider.start(request)
    Payment.objects.filter(pk=payment.pk).update(
        action={
            "kind": action.kind,
            "url": action.url,
            "qr_content": action.qr_content,
            "jsapi_params": action.jsapi_params,
            "instructions": action.instructions,
        }
    )
    return action


def payment_apply_result(
    *,
    channel: str,
    result: PaymentResult,
    actor: User | None = None,
    source: str,
    now: datetime | None = None,
) -> str:
    """The one transition every payment result goes through — a notify, the reconciliation job, finance
    confirming a transfer, expiry finding a late payment. Idempotent and monotonic:

    - only `success` changes anything (a stale `failed` never downgrades a confirmed payment);
    - the payment and its order are locked (payment, then order) and re-read;
    - amount and currency are compared with what *we* stored; a mismatch is flagged, not confirmed;
    - money arriving after a cancel is confirmed and flagged `paid_after_cancel` for a refund.

    Returns one of: ignored, unknown_payment, duplicate, amount_mismatch, paid_after_cancel, confirmed.
    """
    now = now or timezone.now()
    if result.status != "success":
        return "ignored"
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(out_trade_no=result.out_trade_no, channel=channel)
            .first()
        )
        if payment is None:
            return "unknown_payment"
        order = Order.objects.select_for_update().get(pk=payment.order_id)
        if payment.status == PaymentStatus.CONFIRMED:
            return "duplicate"
        if (result.amount_fen, result.currency) != (payment.amount_fen, payment.currency):
            order.needs_attention = f"amount_mismatch:{result.amount_fen}{result.currency}"[:60]
            order.save(update_fields=["needs_attention"])
            audit_record(
                actor=actor,
                action="payment.amount_mismatch",
                target=payment,
                data={"reported": result.amount_fen, "currency": result.currency, "source": source},
            )
            return "amount_mismatch"
        if PaymentStatus.CONFIRMED not in PAYMENT_TRANSITIONS[payment.status]:
            return "duplicate"
        payment.status = PaymentStatus.CONFIRMED
        payment.provider_txn_id = result.provider_txn_id or payment.provider_txn_id
        payment.confirmed_at = now
        if payment.received_fen is None:
            payment.received_fen = result.amount_fen
        payment.save(update_fields=["status", "provider_txn_id", "confirmed_at", "received_fen"])
        LedgerEntry.objects.create(
            order=order,
            kind="payment",
            amount_fen=-payment.amount_fen,
            channel=channel,
            payment=payment,
            created_at=now,
        )
        audit_record(
            actor=actor,
            action="payment.confirm",
            target=payment,
            data={"source": source, "txn": payment.provider_txn_id},
        )
        if order.status == OrderStatus.CANCELLED or order.status == OrderStatus.PAID:
            order.needs_attention = (
                "paid_after_cancel" if order.status == OrderStatus.CANCELLED else "paid_twice"
            )
            order.save(update_fields=["needs_attention"])
            return order.needs_attention
        _order_mark_paid(order=order, actor=actor, now=now)
    return "confirmed"


def notify_handle(*, channel: str, parsed: ParsedNotify) -> str:
    """Store a verified notify once, then apply it. A duplicate delivery is answered like the first."""
    try:
        with transaction.atomic():
            event = NotifyEvent.objects.create(
                channel=channel, event_key=parsed.event_key, payload=parsed.payload
            )
    except IntegrityError:
        return "duplicate"
    outcome = "ignored"
    if parsed.result is not None:
        outcome = payment_apply_result(channel=channel, result=parsed.result, source=f"notify:{event.pk}")
    elif parsed.refund is not None:
        outcome = refund_apply_result(result=parsed.refund, source=f"notify:{event.pk}")
    NotifyEvent.objects.filter(pk=event.pk).update(outcome=outcome)
    return outcome


# ---------------------------------------------------------------------------------------------------------
# offline transfer: proof and finance
# ---------------------------------------------------------------------------------------------------------


def _has_pending_proof(order: Order) -> bool:
    return order.payments.filter(status=PaymentStatus.PENDING).exists()


def payment_proof_attach(
    *, payment_id: int, actor: User, document_id: int, now: datetime | None = None
) -> Payment:
    """The payer uploaded the transfer receipt (回单): the payment waits for finance, and where the rules
    say so the order's auto-cancel is suspended until finance decides."""
    now = now or timezone.now()
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("order").get(pk=payment_id)
        if payment.channel != PaymentChannel.OFFLINE_TRANSFER:
            raise BillingError("not_offline", "只有线下汇款需要上传凭证")
        if payment.order.status != OrderStatus.OPEN or payment.status not in (
            PaymentStatus.CREATED,
            PaymentStatus.PENDING,
        ):
            raise BillingError("order_not_open", "订单已支付或已取消，不能再上传凭证")
        payment.proof_id = document_id
        payment.status = PaymentStatus.PENDING
        payment.save(update_fields=["proof", "status"])
        audit_record(actor=actor, action="payment.proof", target=payment, data={"document": document_id})
    return payment


def payment_finance_decide(
    *,
    payment_id: int,
    actor: User,
    approve: bool,
    received_fen: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> str:
    """Finance confirms a transfer with the amount actually received (through the same transition as a
    notify), or rejects it with a note (the payer may upload a new proof)."""
    now = now or timezone.now()
    if not (actor.has_staff_role("finance") or actor.has_staff_role("admin")):
        raise BillingError("forbidden", "只有财务人员可以确认汇款")
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.channel != PaymentChannel.OFFLINE_TRANSFER:
        raise BillingError("not_offline", "只有线下汇款由财务确认")
    if not approve:
        if not note.strip():
            raise BillingError("reason_required", "请填写退回原因")
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            if payment.status != PaymentStatus.PENDING:
                raise BillingError("invalid_state", "该汇款不在待确认状态")
            payment.status = PaymentStatus.FAILED
            payment.decided_by = actor
            payment.decision_note = note.strip()[:200]
            payment.save(update_fields=["status", "decided_by", "decision_note"])
            audit_record(actor=actor, action="payment.reject", target=payment, data={"note": note})
        return "rejected"
    if received_fen is None or received_fen < 0:
        raise BillingError("amount_required", "请填写实际到账金额")
    # What arrived is kept even when it does not match: finance sees it next to the flag.
    Payment.objects.filter(pk=payment_id).update(
        decided_by=actor, decision_note=note.strip()[:200], received_fen=received_fen
    )
    return payment_apply_result(
        channel=payment.channel,
        result=PaymentResult(
            out_trade_no=payment.out_trade_no,
            status="success",
            amount_fen=received_fen,
            currency=payment.currency,
            provider_txn_id=f"offline:{payment.pk}",
        ),
        actor=actor,
        source="finance",
        now=now,
    )


# ---------------------------------------------------------------------------------------------------------
# cancel and expire
# ---------------------------------------------------------------------------------------------------------


def order_cancel(*, order_id: int, actor: User | None, reason: str, now: datetime | None = None) -> Order:
    """Cancel an open order: its items are freed (the people can be paid for again). Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == OrderStatus.CANCELLED:
            return order
        if OrderStatus.CANCELLED not in ORDER_TRANSITIONS[order.status]:
            raise BillingError("order_not_open", "订单已支付，不能取消")
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = now
        order.cancel_reason = reason[:100]
        order.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        order.items.update(live=False)
        order.payments.filter(status=PaymentStatus.CREATED).update(status=PaymentStatus.EXPIRED)
        LedgerEntry.objects.create(order=order, kind="cancel", amount_fen=-order.total_fen, created_at=now)
        audit_record(actor=actor, action="order.cancel", target=order, data={"reason": reason})
    return order


def orders_expire(
    *, provider_for: Callable[[str], PaymentProvider | None], now: datetime | None = None
) -> dict[str, str]:
    """Cancel open orders past their deadline. Online attempts are queried first (paid at the last minute
    → confirmed instead) and closed at the gateway; an order with a proof awaiting finance is left alone.
    Returns order number → outcome."""
    now = now or timezone.now()
    outcomes = {}
    for order in Order.objects.filter(status=OrderStatus.OPEN, expires_at__lte=now):
        if _has_pending_proof(order):
            outcomes[order.number] = "waiting_for_finance"
            continue
        confirmed = False
        for payment in order.payments.filter(status=PaymentStatus.CREATED).exclude(
            channel=PaymentChannel.OFFLINE_TRANSFER
        ):
            provider = provider_for(payment.channel)
            if provider is None:
                continue
            try:
                result = provider.query(out_trade_no=payment.out_trade_no)
                if result.status == "success":
                    confirmed = (
                        payment_apply_result(channel=payment.channel, result=result, source="expiry")
                        == "confirmed"
                    )
                    break
                provider.close(out_trade_no=payment.out_trade_no)
            except GatewayError:
                outcomes[order.number] = "gateway_unreachable"
                break
        if confirmed:
            outcomes[order.number] = "confirmed"
        elif order.number not in outcomes:
            order_cancel(order_id=order.pk, actor=None, reason="超过支付期限自动取消", now=now)
            outcomes[order.number] = "cancelled"
    return outcomes


def payments_reconcile(
    *,
    provider_for: Callable[[str], PaymentProvider | None],
    older_than: timedelta,
    now: datetime | None = None,
) -> dict[str, str]:
    """Ask the gateway about online attempts still waiting (a notify may have been lost)."""
    now = now or timezone.now()
    outcomes = {}
    for payment in Payment.objects.filter(
        status=PaymentStatus.CREATED, order__status=OrderStatus.OPEN, created_at__lte=now - older_than
    ).exclude(channel=PaymentChannel.OFFLINE_TRANSFER):
        provider = provider_for(payment.channel)
        if provider is None:
            continue
        try:
            result = provider.query(out_trade_no=payment.out_trade_no)
        except GatewayError:
            outcomes[payment.out_trade_no] = "gateway_unreachable"
            continue
        outcomes[payment.out_trade_no] = payment_apply_result(
            channel=payment.channel, result=result, source="reconcile"
        )
    return outcomes


# ---------------------------------------------------------------------------------------------------------
# refunds: requested, approved by someone else, executed at the gateway, finished by its result
# ---------------------------------------------------------------------------------------------------------


def refund_request(
    *, payment_id: int, actor: User, amount_fen: int, reason: str, now: datetime | None = None
) -> Refund:
    """Ask for money back on a confirmed payment. Refunds already asked for and this one may not exceed
    what was paid. Raises BillingError: reason_required, amount_invalid, not_refundable, amount_exceeds_paid."""
    now = now or timezone.now()
    if not reason.strip():
        raise BillingError("reason_required", "请填写退款原因")
    if amount_fen <= 0:
        raise BillingError("amount_invalid", "退款金额必须大于 0")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != PaymentStatus.CONFIRMED:
            raise BillingError("not_refundable", "该支付尚未到账，不能退款")
        reserved = (
            payment.refunds.exclude(status__in=[RefundStatus.REJECTED, RefundStatus.FAILED]).aggregate(
                total=Sum("amount_fen")
            )["total"]
            or 0
        )
        if reserved + amount_fen > payment.amount_fen:
            raise BillingError("amount_exceeds_paid", "退款金额超过了实际支付金额")
        refund = Refund.objects.create(
            payment=payment,
            out_refund_no=f"R{payment.out_trade_no}{secrets.randbelow(100):02d}"[:32],
            amount_fen=amount_fen,
            reason=reason.strip()[:200],
            requested_by=actor,
            created_at=now,
        )
        audit_record(actor=actor, action="refund.request", target=refund, data={"amount_fen": amount_fen})
    return refund


def refund_decide(
    *, refund_id: int, actor: User, approve: bool, note: str = "", second_person: bool = True
) -> Refund:
    """Approve (by someone other than the requester, where the rules say so) or reject a refund request."""
    if not (actor.has_staff_role("finance") or actor.has_staff_role("admin")):
        raise BillingError("forbidden", "只有财务人员可以审核退款")
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        target = RefundStatus.APPROVED if approve else RefundStatus.REJECTED
        if target not in REFUND_TRANSITIONS[refund.status]:
            raise BillingError("invalid_state", f"退款当前为「{refund.get_status_display()}」，不能审核")
        if approve and second_person and refund.requested_by_id == actor.pk:
            raise BillingError("same_person", "退款须由申请人以外的人员审核")
        if not approve and not note.strip():
            raise BillingError("reason_required", "请填写拒绝原因")
        refund.status = target
        refund.decided_by = actor
        refund.decision_note = note.strip()[:200]
        refund.save(update_fields=["status", "decided_by", "decision_note"])
        audit_record(
            actor=actor,
            action=f"refund.{'approve' if approve else 'reject'}",
            target=refund,
            data={"note": note},
        )
        if approve and refund.payment.channel != PaymentChannel.OFFLINE_TRANSFER:
            # The gateway is called after commit, by a task (never inside this transaction's locks).
            from billing.tasks import refund_execute_task

            refund_id_committed = refund.pk
            transaction.on_commit(lambda: refund_execute_task.delay(refund_id_committed))
    return refund


def refund_execute(*, refund_id: int, provider: PaymentProvider) -> Refund:
    """Send an approved refund to the gateway (outside any lock; the out_refund_no makes a retry safe)."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.APPROVED:
        return refund
    try:
        result = provider.refund(
            out_trade_no=refund.payment.out_trade_no,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            total_fen=refund.payment.amount_fen,
            reason=refund.reason,
        )
    except GatewayError as error:
        result = RefundResult(out_refund_no=refund.out_refund_no, status="failed", message=str(error))
    if result.status != "pending":
        refund_apply_result(result=result, source="refund_call")
    return Refund.objects.get(pk=refund.pk)


def refund_apply_result(*, result: RefundResult, source: str, now: datetime | None = None) -> str:
    """Finish a refund from the gateway's answer or refund notify. Idempotent; a refund notify for a refund
    we never approved changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update()
            .select_related("payment__order")
            .filter(out_refund_no=result.out_refund_no)
            .first()
        )
        if refund is None:
            return "unknown_refund"
        if refund.status in (RefundStatus.REFUNDED,):
            return "duplicate"
        if refund.status != RefundStatus.APPROVED:
            return "not_approved"
        if result.status == "success":
            if result.amount_fen is not None and result.amount_fen != refund.amount_fen:
                return "amount_mismatch"
            refund.status = RefundStatus.REFUNDED
            refund.provider_refund_id = result.provider_refund_id
            refund.finished_at = now
            refund.save(update_fields=["status", "provider_refund_id", "finished_at"])
            order = refund.payment.order
            LedgerEntry.objects.create(
                order=order,
                kind="refund",
                amount_fen=refund.amount_fen,
                refund=refund,
                channel=refund.payment.channel,
                created_at=now,
            )
            flushed = list(
                Invoice.objects.filter(order=order, status=InvoiceStatus.ISSUED).values_list(
                    "pk", "platform_serial"
                )
            )
            Invoice.objects.filter(pk__in=[pk for pk, _ in flushed]).update(status=InvoiceStatus.RED_FLUSHED)
            from billing.tasks import invoice_red_flush_task

            for invoice_id, platform_serial in flushed:
                if platform_serial:  # issued by the e-invoice platform: red-flush it there too
                    transaction.on_commit(lambda pk=invoice_id: invoice_red_flush_task.delay(pk))
            audit_record(actor=None, action="refund.done", target=refund, data={"source": source})
            return "refunded"
        if result.status == "failed":
            refund.status = RefundStatus.FAILED
            refund.decision_note = (result.message or refund.decision_note)[:200]
            refund.save(update_fields=["status", "decision_note"])
            audit_record(
                actor=None,
                action="refund.failed",
                target=refund,
                data={"source": source, "message": result.message},
            )
            return "failed"
    return "pending"


# ---------------------------------------------------------------------------------------------------------
# invoices
# ---------------------------------------------------------------------------------------------------------


INVOICE_PDF_SPEC = DocumentSpec(key="invoice_pdf", label="发票 PDF", formats=("pdf",), max_kb=10240)


def _invoice_request(invoice: Invoice) -> EInvoiceRequest:
    order = invoice.order
    return EInvoiceRequest(
        serial=f"INV{order.number}",
        invoice_type=invoice.invoice_type,
        buyer_name=invoice.title.get("title", ""),
        buyer_tax_number=invoice.title.get("tax_number", ""),
        buyer_address_phone=invoice.title.get("address_phone", ""),
        buyer_bank_account=invoice.title.get("bank_account", ""),
        buyer_email=invoice.receipt_email,
        amount_fen=invoice.amount_fen,
        lines=tuple(
            EInvoiceLine(name=item.label, amount_fen=item.amount_fen)
            for item in order.items.order_by("pk")
            if item.amount_fen
        ),
        remark=f"订单号 {order.number}",
    )


def _invoice_record(*, invoice_id: int, actor: User, result: EInvoiceResult, source: str) -> Invoice:
    """The one REQUESTED → ISSUED transition: lock, re-check, store the PDF in the payer's slot (so the payer
    opens it from the order's page), save, audit — all or nothing. Returns the invoice unchanged when it is
    no longer requested and `source` is the platform (a concurrent or repeated call already recorded it)."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            invoice = (
                Invoice.objects.select_for_update(of=("self",))
                .select_related("order", "order__created_by", "order__payer_company")
                .get(pk=invoice_id)
            )
            if invoice.status != InvoiceStatus.REQUESTED:
                if source == "platform":
                    return invoice
                raise BillingError("invalid_state", "该发票已开具")
            order = invoice.order
            if order.status != OrderStatus.PAID:
                raise BillingError("not_paid", "订单支付后才能开票")
            if result.pdf is not None:
                try:
                    document = document_upload(
                        owner=order.created_by,
                        key=f"invoice:{order.number}",
                        spec=INVOICE_PDF_SPEC,
                        data=result.pdf,
                        filename=result.pdf_filename,
                        review_required=False,
                        company=order.payer_company,
                        actor=actor,
                    )
                except (UploadProblem, DocumentError) as problem:
                    raise BillingError("pdf_invalid", f"发票 PDF：{problem.message}") from problem
                stored.append(document.file.name)
                invoice.pdf = document
            invoice.status = InvoiceStatus.ISSUED
            invoice.number = result.number
            invoice.code = result.code
            invoice.issued_on = result.issued_on
            invoice.platform_serial = result.platform_serial
            invoice.save(update_fields=["status", "number", "code", "issued_on", "pdf", "platform_serial"])
            audit_record(
                actor=actor,
                action="invoice.issue",
                target=invoice,
                data={"number": invoice.number, "source": source, "platform_serial": invoice.platform_serial},
            )
    except BaseException:
        # The document row went with the transaction; its file must not stay behind.
        for name in stored:
            Document._meta.get_field("file").storage.delete(name)
        raise
    return invoice


def invoice_issue_by_finance(
    *,
    invoice_id: int,
    actor: User,
    number: str,
    issued_on: date | None,
    pdf: tuple[bytes, str] | None,
) -> Invoice:
    """Finance records an invoice issued on the tax-control device: number, date and optionally the PDF
    (`(data, filename)`), stored and issued in one transaction.

    Preconditions: `actor` is finance staff of the current tenant (the view checks the role).

    Raises BillingError: number_required, date_required, invalid_state (already issued), not_paid,
    pdf_invalid (not a PDF, too large …). Nothing is stored then.
    """
    data, filename = pdf if pdf is not None else (None, "invoice.pdf")
    provider = ManualProvider(number=number, issued_on=issued_on, pdf=data, pdf_filename=filename)
    try:
        result = provider.issue(_invoice_request(Invoice.objects.select_related("order").get(pk=invoice_id)))
    except EInvoiceError as error:
        raise BillingError(error.code, error.message) from error
    return _invoice_record(invoice_id=invoice_id, actor=actor, result=result, source="manual")


def invoice_issue_electronic(*, invoice_id: int, actor: User) -> Invoice:
    """Issue a requested invoice through the tenant's e-invoice platform and record number, date and PDF.

    The platform is called outside any transaction or row lock; our serial (INV + order number) makes a
    repeated call return the invoice the platform already issued, never a second one. Idempotent: an invoice
    no longer requested is returned as it is, without calling the platform.

    Raises BillingError: einvoice_not_configured, not_paid, the platform's refusal (its code, its message),
    bad_signature / malformed_response / network, pdf_invalid. The invoice stays requested then.
    """
    invoice = Invoice.objects.select_related("order").get(pk=invoice_id)
    if invoice.status != InvoiceStatus.REQUESTED:
        return invoice
    if invoice.order.status != OrderStatus.PAID:
        raise BillingError("not_paid", "订单支付后才能开票")
    provider = einvoice_provider()
    if provider.manual:
        raise BillingError("einvoice_not_configured", "本协会未设置电子发票平台，请手工登记开票")
    try:
        result = provider.issue(_invoice_request(invoice))
    except EInvoiceError as error:
        raise BillingError(error.code, error.message) from error
    return _invoice_record(invoice_id=invoice_id, actor=actor, result=result, source="platform")


def invoice_red_flush_electronic(*, invoice_id: int) -> str:
    """Red-flush on the platform an invoice the platform issued and a refund red-flushed here. Idempotent:
    returns "done", or why nothing was sent: "not_red_flushed", "issued_by_hand" (finance red-flushes it on
    its own device), "already" (the platform's red serial is stored), "no_platform".

    Raises EInvoiceError when the platform refuses or cannot be reached (the task retries; our serial RED +
    order number makes a retry safe).
    """
    invoice = Invoice.objects.select_related("order").get(pk=invoice_id)
    if invoice.status != InvoiceStatus.RED_FLUSHED:
        return "not_red_flushed"
    if not invoice.platform_serial:
        return "issued_by_hand"
    if invoice.red_flush_serial:
        return "already"
    provider = einvoice_provider()
    if provider.manual:
        return "no_platform"
    result = provider.red_flush(
        RedFlushRequest(
            serial=f"RED{invoice.order.number}",
            platform_serial=invoice.platform_serial,
            number=invoice.number,
            code=invoice.code,
        )
    )
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.red_flush_serial:
            return "already"
        invoice.red_flush_serial = result.platform_serial if result else ""
        invoice.save(update_fields=["red_flush_serial"])
        audit_record(
            actor=None,
            action="invoice.red_flush",
            target=invoice,
            data={"platform_serial": invoice.red_flush_serial, "red_number": result.number if result else ""},
        )
    return "done"


def refund_request_by_payer(*, rules: Rules, order_id: int, actor: User, reason: str) -> Refund:
    """The payer asks for the whole payment back (miniapp: paid, not attended), where the rules allow
    refunds. Raises BillingError: refunds_disabled, not_refundable, reason_required, and those of
    `refund_request`."""
    refunds = rules.billing.refunds
    if not refunds.enabled:
        raise BillingError("refunds_disabled", "本协会不受理在线退款申请")
    order = Order.objects.get(pk=order_id)
    if order.status != OrderStatus.PAID:
        raise BillingError("not_refundable", "只有已支付的订单可以申请退款")
    attended = order.items.filter(application__status=ApplicationStatus.COMPLETED).exists()
    if attended:
        raise BillingError("not_refundable", "已参加培训，不能申请退款")
    if refunds.reasons and reason.split("：")[0] not in refunds.reasons:
        raise BillingError("reason_invalid", "请选择退款原因：" + "、".join(refunds.reasons))
    payment = order.payments.filter(status=PaymentStatus.CONFIRMED).first()
    if payment is None:
        raise BillingError("not_refundable", "该订单没有到账的支付")
    return refund_request(payment_id=payment.pk, actor=actor, amount_fen=payment.amount_fen, reason=reason)

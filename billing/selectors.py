"""Billing reads that cross a boundary: everything fetched by a client-supplied id goes through here and is
filtered by its payer (a company sees its orders, a person theirs). Anything else raises DoesNotExist,
exactly like an id that does not exist, so views answer 404 and ids cannot be probed."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import (
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Order,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from registration.models import Application, ApplicationStatus
from shared.accounts.models import InvoiceTitle, User, UserKind
from tenant_configs.schema import PaymentChannel


def _payer_filter(payer: User, *, prefix: str = "") -> Q | None:
    """Rows paid by `payer`: a company operator's company, or the person themself; None for anyone else."""
    if payer.kind == UserKind.COMPANY and payer.company_id is not None:
        return Q(**{f"{prefix}payer_company_id": payer.company_id})
    if payer.kind == UserKind.PERSON:
        return Q(**{f"{prefix}payer_person_id": payer.pk})
    return None


# ---------------------------------------------------------------------------------------------------------
# the payer
# ---------------------------------------------------------------------------------------------------------


def payable_applications(*, payer: User) -> QuerySet[Application]:
    """The payer's approved applications that are in no live (open or paid) order, oldest first."""
    if payer.kind == UserKind.COMPANY and payer.company_id is not None:
        owned = Q(company_id=payer.company_id)
    elif payer.kind == UserKind.PERSON:
        owned = Q(person_id=payer.pk)
    else:
        return Application.objects.none()
    return (
        Application.objects.filter(owned, status=ApplicationStatus.APPROVED)
        .exclude(order_items__live=True)
        .select_related("program", "session", "person__profile")
        .order_by("program__name", "pk")
    )


def invoice_titles_for_payer(*, payer: User) -> QuerySet[InvoiceTitle]:
    if payer.kind == UserKind.COMPANY and payer.company_id is not None:
        return InvoiceTitle.objects.filter(company_id=payer.company_id).order_by("-is_default", "pk")
    if payer.kind == UserKind.PERSON:
        return InvoiceTitle.objects.filter(owner_id=payer.pk).order_by("-is_default", "pk")
    return InvoiceTitle.objects.none()


def invoice_title_get_for_payer(*, title_id: int, payer: User) -> InvoiceTitle:
    return invoice_titles_for_payer(payer=payer).get(pk=title_id)


def orders_for_payer(*, payer: User) -> QuerySet[Order]:
    condition = _payer_filter(payer)
    if condition is None:
        return Order.objects.none()
    return Order.objects.filter(condition).annotate(item_count=Count("items"))


def order_get_for_payer(*, order_id: int, payer: User) -> Order:
    """The order if `payer` pays it; Order.DoesNotExist otherwise."""
    condition = _payer_filter(payer)
    if condition is None:
        raise Order.DoesNotExist
    return Order.objects.filter(condition).get(pk=order_id)


def offline_payment_current(*, order: Order) -> Payment | None:
    """The offline-transfer attempt the payer's proof belongs to: the latest one still waiting."""
    return (
        order.payments.filter(
            channel=PaymentChannel.OFFLINE_TRANSFER,
            status__in=[PaymentStatus.CREATED, PaymentStatus.PENDING],
        )
        .order_by("-created_at", "-id")
        .first()
    )


# ---------------------------------------------------------------------------------------------------------
# finance (the caller checks the staff role)
# ---------------------------------------------------------------------------------------------------------


def refund_latest_for_order(*, order: Order) -> Refund | None:
    """The order's most recent refund (the order was fetched for its payer already)."""
    return (
        Refund.objects.filter(payment__order=order)
        .order_by("-created_at", "-id")
        .select_related("payment")
        .first()
    )


def transfers_pending() -> QuerySet[Payment]:
    """Offline transfers with a proof, waiting for finance, oldest first."""
    return (
        Payment.objects.filter(channel=PaymentChannel.OFFLINE_TRANSFER, status=PaymentStatus.PENDING)
        .select_related("order", "order__payer_company", "order__payer_person", "proof")
        .order_by("created_at", "id")
    )


def transfer_get_pending(*, payment_id: int) -> Payment:
    return transfers_pending().get(pk=payment_id)


def invoices_requested() -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(status=InvoiceStatus.REQUESTED)
        .select_related("order", "order__payer_company", "order__payer_person")
        .order_by("order__paid_at", "created_at", "id")
    )


def refunds_requested() -> QuerySet[Refund]:
    return (
        Refund.objects.filter(status=RefundStatus.REQUESTED)
        .select_related("payment__order", "requested_by")
        .order_by("created_at", "id")
    )


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # inclusive
    days: list[dict]  # {"day": date, "count": int, "total_fen": int}
    channels: list[dict]  # {"channel": str, "count": int, "total_fen": int}
    total_fen: int
    refunded_fen: int


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def payments_confirmed(*, start: date, end: date) -> QuerySet[Payment]:
    """Confirmed payments whose confirmation falls on a day from `start` to `end` (local time)."""
    since, until = _day_bounds(start, end)
    return (
        Payment.objects.filter(
            status=PaymentStatus.CONFIRMED, confirmed_at__gte=since, confirmed_at__lt=until
        )
        .select_related("order", "order__payer_company", "order__payer_person")
        .order_by("confirmed_at", "id")
    )


def payments_report(*, start: date, end: date) -> Report:
    """Totals of confirmed payments per local day and per channel; refunds from the ledger."""
    confirmed = payments_confirmed(start=start, end=end).order_by()
    zone = timezone.get_current_timezone()
    days = [
        {"day": row["day"], "count": row["count"], "total_fen": row["total"]}
        for row in confirmed.annotate(day=TruncDate("confirmed_at", tzinfo=zone))
        .values("day")
        .annotate(count=Count("id"), total=Sum("amount_fen"))
        .order_by("day")
    ]
    channels = [
        {"channel": row["channel"], "count": row["count"], "total_fen": row["total"]}
        for row in confirmed.values("channel")
        .annotate(count=Count("id"), total=Sum("amount_fen"))
        .order_by("channel")
    ]
    since, until = _day_bounds(start, end)
    refunded = (
        LedgerEntry.objects.filter(kind="refund", created_at__gte=since, created_at__lt=until).aggregate(
            total=Sum("amount_fen")
        )["total"]
        or 0
    )
    return Report(
        start=start,
        end=end,
        days=days,
        channels=channels,
        total_fen=sum(row["total_fen"] for row in days),
        refunded_fen=refunded,
    )


# Outcomes of a stored notify that money or a message did not match anything cleanly.
UNMATCHED_OUTCOMES = (
    "unknown_payment",
    "amount_mismatch",
    "paid_after_cancel",
    "paid_twice",
    "unknown_refund",
)


def reconciliation_items():
    """What finance must look at: notifies that matched nothing cleanly, and orders flagged for attention
    (an amount that did not match, money after a cancel)."""
    from billing.models import NotifyEvent

    notifies = NotifyEvent.objects.filter(outcome__in=UNMATCHED_OUTCOMES).order_by("-received_at")[:200]
    flagged = Order.objects.exclude(needs_attention="").select_related("payer_company", "payer_person")
    return list(notifies), list(flagged.order_by("-created_at")[:200])

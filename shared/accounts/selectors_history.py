"""历史动态: one timeline of a person's payments and courses, newest first.

Payments are the orders the person paid for themself, and the items of other payers' orders (their
company's) that were for the person's own applications or membership fees. Courses are the person's
training applications with their status. Everything is filtered by the person, in the current schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import reverse

from shared.accounts.models import User
from shared.money import format_yuan

HISTORY_LIMIT = 200


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str  # "payment" or "course"
    title: str
    detail: str
    status: str
    status_label: str
    amount: str = ""  # yuan, formatted; empty for courses
    link: str = ""


def history_for_person(*, person: User, limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    from billing.models import Order, OrderItem
    from registration.models import Application

    entries: list[HistoryEntry] = []
    own_orders = Order.objects.filter(payer_person=person).prefetch_related("items").order_by("-created_at")
    for order in own_orders[:limit]:
        entries.append(
            HistoryEntry(
                at=order.paid_at or order.created_at,
                kind="payment",
                title=f"缴费 订单 {order.number}",
                detail="、".join(item.label for item in order.items.all()),
                status=order.status,
                status_label=order.get_status_display(),
                amount=format_yuan(order.total_fen),
                link=reverse("billing:order", args=[order.pk]),
            )
        )
    paid_by_others = (
        OrderItem.objects.filter(Q(application__person=person) | Q(membership_fee__membership__person=person))
        .exclude(order__payer_person=person)
        .select_related("order", "order__payer_company")
        .order_by("-order__created_at")
    )
    for item in paid_by_others[:limit]:
        order = item.order
        payer = order.payer_company.name if order.payer_company_id else "他人"
        entries.append(
            HistoryEntry(
                at=order.paid_at or order.created_at,
                kind="payment",
                title=f"{payer}缴费",
                detail=item.label,
                status=order.status,
                status_label=order.get_status_display(),
                amount=format_yuan(item.amount_fen),
            )
        )
    applications = (
        Application.objects.filter(person=person).select_related("program", "session").order_by("-created_at")
    )
    for application in applications[:limit]:
        entries.append(
            HistoryEntry(
                at=application.submitted_at or application.created_at,
                kind="course",
                title=application.program.name,
                detail=application.session.name if application.session_id else "",
                status=application.status,
                status_label=application.get_status_display(),
                link=reverse("training:application", args=[application.pk]),
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]

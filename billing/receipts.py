"""The receipt e-mail of a paid order (回执): sent once, after commit, by billing.tasks.order_receipt_send_task.

Kept apart from billing/services.py so the paying transition only schedules it (STYLE: side effects after
commit, through a task)."""

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing import split
from billing.models import Order, OrderStatus
from shared.money import format_yuan
from shared.services import audit_record
from tenant_configs.selectors import rules_current


def order_receipt_send(*, order_id: int, now: datetime | None = None) -> str:
    """E-mail the receipt of a paid order to its receipt_email, once. The order row is locked while the mail
    goes out, so two runs of the task cannot both send; receipt_sent_at records it. When sending raises,
    nothing is recorded and the task retries.

    Returns: sent, already_sent, not_paid, no_email, no_order.
    """
    now = now or timezone.now()
    association = rules_current().association.name
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:  # a task outliving its order's transaction (rolled back): nothing to send
            return "no_order"
        if order.receipt_sent_at is not None:
            return "already_sent"
        if order.status != OrderStatus.PAID:
            return "not_paid"
        if not order.receipt_email:
            return "no_email"
        context = {
            "association": association,
            "order": order,
            "items": [
                {"label": item.label, "amount": format_yuan(item.amount_fen)} for item in order.items.all()
            ],
            "total": format_yuan(order.total_fen),
            "channel": split.CHANNEL_LABELS.get(order.channel, order.channel),
            "paid_at": timezone.localtime(order.paid_at or now),
        }
        subject = render_to_string("billing/email/receipt_subject.txt", context).strip()
        body = render_to_string("billing/email/receipt.txt", context)
        EmailMessage(
            subject=subject,
            body=body,
            from_email=f"{association} <{settings.DEFAULT_FROM_EMAIL}>",  # encoded by Django when sent
            to=[order.receipt_email],
        ).send()
        order.receipt_sent_at = now
        order.save(update_fields=["receipt_sent_at"])
        audit_record(actor=None, action="order.receipt_sent", target=order, data={"to": order.receipt_email})
    return "sent"

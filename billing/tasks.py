"""Celery tasks of billing: each runs in the schema it was sent from and calls one service."""

from datetime import timedelta

from celery import shared_task
from django_tenants.utils import get_public_schema_name, tenant_context

from billing.providers.registry import provider_for
from billing.services import orders_expire, payments_reconcile
from tenants.models import Association, AssociationStatus


@shared_task(max_retries=3, default_retry_delay=60)
def billing_housekeeping_current_tenant() -> dict:
    """Ask the gateways about attempts still waiting (lost notifies), then cancel what is past its deadline."""
    reconciled = payments_reconcile(provider_for=provider_for, older_than=timedelta(minutes=10))
    expired = orders_expire(provider_for=provider_for)
    return {"reconciled": reconciled, "expired": expired}


@shared_task
def billing_housekeeping_all() -> int:
    """Beat entry: one housekeeping task per active association, each sent from its own schema."""
    tenants = list(
        Association.objects.exclude(schema_name=get_public_schema_name()).filter(
            status=AssociationStatus.ACTIVE
        )
    )
    for tenant in tenants:
        with tenant_context(tenant):
            billing_housekeeping_current_tenant.delay()
    return len(tenants)


@shared_task(max_retries=5, default_retry_delay=120)
def refund_execute_task(refund_id: int) -> str:
    """Send an approved refund to its gateway (the out_refund_no makes a retry safe)."""
    from billing.models import Refund
    from billing.services import refund_execute

    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    provider = provider_for(refund.payment.channel)
    if provider is None:
        return "no_provider"
    return refund_execute(refund_id=refund_id, provider=provider).status


@shared_task(bind=True, max_retries=5, default_retry_delay=300)
def order_receipt_send_task(self, order_id: int) -> str:
    """E-mail the paid order's receipt; idempotent (receipt_sent_at), retried when the mail server fails."""
    from billing.receipts import order_receipt_send

    try:
        return order_receipt_send(order_id=order_id)
    except OSError as error:  # SMTP refused or unreachable (smtplib errors are OSErrors): nothing recorded
        raise self.retry(exc=error) from error


@shared_task(bind=True, max_retries=5, default_retry_delay=300)
def invoice_red_flush_task(self, invoice_id: int) -> str:
    """Red-flush on the e-invoice platform an invoice a refund red-flushed here; idempotent (the stored red
    serial), retried when the platform refuses or cannot be reached."""
    from billing.einvoice import EInvoiceError
    from billing.services import invoice_red_flush_electronic

    try:
        return invoice_red_flush_electronic(invoice_id=invoice_id)
    except EInvoiceError as error:
        raise self.retry(exc=error) from error

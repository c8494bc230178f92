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

"""Celery tasks of the tenants app. Tasks take ids, run in the schema they were sent from, call services."""

from celery import shared_task
from django.db import connection
from django_tenants.utils import get_public_schema_name, tenant_context

from tenants.models import Association, AssociationStatus
from tenants.services import usage_collect


@shared_task(max_retries=3, default_retry_delay=30)
def usage_collect_current_tenant() -> dict:
    """Runs inside the schema of the tenant that scheduled it (tenant-schemas-celery)."""
    snapshot = usage_collect(schema_name=connection.schema_name)
    return {"schema": snapshot.schema_name, "figures": snapshot.figures}


@shared_task
def usage_collect_all() -> int:
    """Beat entry: fan out one usage task per active association, each sent from its own schema."""
    tenants = list(
        Association.objects.exclude(schema_name=get_public_schema_name()).filter(
            status=AssociationStatus.ACTIVE
        )
    )
    for tenant in tenants:
        with tenant_context(tenant):
            usage_collect_current_tenant.delay()
    return len(tenants)

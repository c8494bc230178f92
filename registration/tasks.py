"""Celery tasks of registration. Each runs in the schema it was sent from and calls one service."""

from celery import shared_task
from django_tenants.utils import get_public_schema_name, tenant_context

from registration.services import applications_expire_waiting
from tenant_configs.selectors import rules_current_version
from tenants.models import Association, AssociationStatus


@shared_task(max_retries=3, default_retry_delay=60)
def applications_expire_current_tenant() -> int:
    version = rules_current_version()
    return applications_expire_waiting(rules_version=version.number) if version else 0


@shared_task
def applications_expire_all() -> int:
    """Beat entry: one expiry task per active association, each sent from its own schema."""
    tenants = list(
        Association.objects.exclude(schema_name=get_public_schema_name()).filter(
            status=AssociationStatus.ACTIVE
        )
    )
    for tenant in tenants:
        with tenant_context(tenant):
            applications_expire_current_tenant.delay()
    return len(tenants)

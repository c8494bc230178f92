"""Celery tasks of membership. Each runs in the schema it was sent from and calls services."""

from celery import shared_task
from django_tenants.utils import get_public_schema_name, tenant_context

from membership.services import membership_reminders_send, memberships_expire
from tenant_configs.selectors import RulesNotPublished, rules_current
from tenants.models import Association, AssociationStatus


@shared_task(max_retries=3, default_retry_delay=60)
def membership_housekeeping_current_tenant() -> dict[str, int]:
    """Expire memberships whose period has ended, then send the reminders due today (both idempotent)."""
    try:
        rules = rules_current()
    except RulesNotPublished:
        return {"expired": 0, "reminded": 0}
    if not rules.membership.enabled:
        return {"expired": 0, "reminded": 0}
    return {"expired": memberships_expire(), "reminded": membership_reminders_send(rules=rules)}


@shared_task
def membership_housekeeping_all() -> int:
    """Beat entry: one housekeeping task per active association, each sent from its own schema."""
    tenants = list(
        Association.objects.exclude(schema_name=get_public_schema_name()).filter(
            status=AssociationStatus.ACTIVE
        )
    )
    for tenant in tenants:
        with tenant_context(tenant):
            membership_housekeeping_current_tenant.delay()
    return len(tenants)

"""Reads of the public schema: host -> tenant resolution (cached) and the operator's views."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Prefetch
from django_tenants.utils import get_public_schema_name, schema_context

from tenants.models import Association, AssociationStatus, Domain, TenantUsageSnapshot

ROUTING_TTL_SECONDS = 300
_MISSING = "missing"


def _routing_key(hostname: str) -> str:
    return f"tenants:host:{hostname.lower()}"


def tenant_for_hostname(hostname: str) -> Association | None:
    """The tenant serving `hostname`, or None. Cached (negative answers too); see routing_cache_forget."""
    hostname = hostname.lower()
    with schema_context(get_public_schema_name()):
        cached = cache.get(_routing_key(hostname))
        if cached == _MISSING:
            return None
        if cached is not None:
            return cached
        domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
        tenant = domain.tenant if domain is not None else None
        if tenant is not None and tenant.status == AssociationStatus.TEMPLATE:
            tenant = None
        cache.set(_routing_key(hostname), tenant if tenant is not None else _MISSING, ROUTING_TTL_SECONDS)
        return tenant


def routing_cache_forget(hostnames: list[str]) -> None:
    """Drop cached routing answers; services call it after committing a tenant or domain change."""
    with schema_context(get_public_schema_name()):
        cache.delete_many([_routing_key(name) for name in hostnames])


def tenant_hostnames(tenant: Association) -> list[str]:
    return list(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True))


def tenant_get(*, slug: str) -> Association:
    return (
        Association.objects.exclude(schema_name=get_public_schema_name())
        .exclude(status=AssociationStatus.TEMPLATE)
        .get(slug=slug)
    )


@dataclass(frozen=True)
class TenantRow:
    tenant: Association
    domains: list[str]
    usage: TenantUsageSnapshot | None


def tenant_list_for_operator() -> list[TenantRow]:
    tenants = (
        Association.objects.exclude(schema_name=get_public_schema_name())
        .exclude(status=AssociationStatus.TEMPLATE)
        .prefetch_related(Prefetch("domains", queryset=Domain.objects.order_by("-is_primary", "domain")))
        .order_by("created_at", "id")
    )
    latest = {}
    for snapshot in TenantUsageSnapshot.objects.order_by("tenant_id", "-collected_at", "-id").distinct(
        "tenant_id"
    ):
        latest[snapshot.tenant_id] = snapshot
    return [
        TenantRow(
            tenant=tenant, domains=[d.domain for d in tenant.domains.all()], usage=latest.get(tenant.id)
        )
        for tenant in tenants
    ]

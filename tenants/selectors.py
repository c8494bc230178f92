"""Reads of the public schema: host -> tenant resolution (cached) and the operator's views."""

import threading
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch
from django_tenants.utils import get_public_schema_name, schema_context

from tenants.models import Association, AssociationStatus, Domain, TenantUsageSnapshot

ROUTING_TTL_SECONDS = 300
# How often a process asks the shared cache whether routing changed elsewhere. The process that makes
# a change forgets at once; other processes (web workers) follow within this many seconds.
ROUTING_GENERATION_CHECK_SECONDS = 1.0
LOCAL_ENTRIES_MAX = 1024
_GENERATION_KEY = "tenants:routing-generation"
_MISSING = "missing"


class _LocalRouting:
    """Per-process hostname -> tenant memo in front of the shared cache (a network round trip)."""

    def __init__(self) -> None:
        self.entries: dict[str, Association | None] = {}
        self.generation: int | None = None
        self.checked_at = 0.0
        self.lock = threading.Lock()

    def sync(self) -> None:
        now = time.monotonic()
        if now - self.checked_at < ROUTING_GENERATION_CHECK_SECONDS:
            return
        generation = cache.get(_GENERATION_KEY, 0)
        with self.lock:
            if generation != self.generation:
                self.entries = {}
                self.generation = generation
            self.checked_at = now

    def remember(self, hostname: str, tenant: Association | None) -> None:
        with self.lock:
            if len(self.entries) >= LOCAL_ENTRIES_MAX:  # unknown-host floods must not grow memory
                self.entries = {}
            self.entries[hostname] = tenant

    def forget_all(self) -> None:
        with self.lock:
            self.entries = {}
            self.checked_at = 0.0


_local = _LocalRouting()


def _routing_key(hostname: str) -> str:
    return f"tenants:host:{hostname}"


def tenant_for_hostname(hostname: str) -> Association | None:
    """The tenant serving `hostname`, or None. Cached (negative answers too); see routing_cache_forget."""
    hostname = hostname.lower()
    if connection.schema_name == get_public_schema_name():  # the middleware's case: no switching
        return _tenant_for_hostname_on_public(hostname)
    with schema_context(get_public_schema_name()):  # cache keys and the Domain table are public's
        return _tenant_for_hostname_on_public(hostname)


def _tenant_for_hostname_on_public(hostname: str) -> Association | None:
    _local.sync()
    if hostname in _local.entries:
        return _local.entries[hostname]
    cached = cache.get(_routing_key(hostname))
    if cached is None:
        domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
        tenant = domain.tenant if domain is not None else None
        if tenant is not None and tenant.status == AssociationStatus.TEMPLATE:
            tenant = None
        cached = tenant if tenant is not None else _MISSING
        cache.set(_routing_key(hostname), cached, ROUTING_TTL_SECONDS)
    tenant = None if cached == _MISSING else cached
    _local.remember(hostname, tenant)
    return tenant


def routing_cache_forget(hostnames: list[str]) -> None:
    """Drop cached routing answers; services call it after committing a tenant or domain change."""
    with schema_context(get_public_schema_name()):
        cache.delete_many([_routing_key(name.lower()) for name in hostnames])
        try:
            cache.incr(_GENERATION_KEY)
        except ValueError:  # not set yet (or evicted)
            cache.set(_GENERATION_KEY, 1, None)
    _local.forget_all()


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

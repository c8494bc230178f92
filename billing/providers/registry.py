"""Which provider serves a channel in the current tenant: built from the tenant's merchant settings, the
offline-transfer provider from its rules, or — where a tenant has no merchant keys and settings allow it
(never in production) — the built-in gateway simulator."""

from billing.providers.base import PaymentProvider


def provider_for(channel: str) -> PaymentProvider | None:
    """The provider for `channel` in the tenant on the current connection, or None when the channel is not
    configured here. (Filled in by the providers work; until then only offline transfer exists.)"""
    return None

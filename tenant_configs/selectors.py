"""Reading the current rules of the tenant on the connection.

The current version number is cached per schema (the cache key function prefixes the schema);
parsed rules are memoised per process by (schema, number, sha256), so a request costs one cache
read and no parsing once warm.
"""

from functools import lru_cache

from django.core.cache import cache
from django.db import connection

from tenant_configs.loader import load_rules_data
from tenant_configs.models import RulesVersion
from tenant_configs.schema import Rules

CURRENT_KEY = "rules:current"
CURRENT_TTL_SECONDS = 300


class RulesNotPublished(LookupError):
    """The tenant has no published rules (onboarding always publishes version 1)."""


def _current_pointer() -> tuple[int, str] | None:
    pointer = cache.get(CURRENT_KEY)
    if pointer is None:
        row = RulesVersion.objects.order_by("-number").values_list("number", "sha256").first()
        if row is None:
            return None
        pointer = (row[0], row[1])
        cache.set(CURRENT_KEY, pointer, CURRENT_TTL_SECONDS)
    return pointer


@lru_cache(maxsize=256)
def _parsed(schema_name: str, number: int, sha256: str) -> Rules:
    payload = RulesVersion.objects.values_list("payload", flat=True).get(number=number)
    return load_rules_data(payload, source=f"{schema_name} v{number}")


def rules_current() -> Rules:
    """The rules in force for the tenant on the current connection."""
    pointer = _current_pointer()
    if pointer is None:
        raise RulesNotPublished(connection.schema_name)
    return _parsed(connection.schema_name, *pointer)


def rules_current_version() -> RulesVersion | None:
    return RulesVersion.objects.order_by("-number").first()


def rules_version_list() -> list[RulesVersion]:
    return list(RulesVersion.objects.select_related("published_by").order_by("-number"))


def rules_version_get(*, number: int) -> RulesVersion:
    return RulesVersion.objects.get(number=number)


def rules_cache_forget() -> None:
    cache.delete(CURRENT_KEY)

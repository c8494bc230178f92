"""Publishing rules into the tenant on the connection."""

import hashlib
import json

from django.db import connection, transaction

from shared.accounts.models import User
from shared.services import audit_record
from tenant_configs.diff import rules_diff
from tenant_configs.loader import RulesProblem, rules_to_data
from tenant_configs.models import RulesVersion
from tenant_configs.schema import Rules
from tenant_configs.selectors import rules_cache_forget


class RulesPublishError(Exception):
    def __init__(self, problems: list[RulesProblem]):
        super().__init__("; ".join(f"{p.key_path}: expected {p.expected}, found {p.found}" for p in problems))
        self.problems = problems


def rules_payload_sha256(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rules_publish(
    *, rules: Rules, actor: User | None, actor_label: str | None = None, comment: str = ""
) -> RulesVersion:
    """Publish `rules` as the next version of the current tenant's rules.

    The rules are already validated (a `Rules` instance cannot be invalid). Publishing the same
    content as the current version is a no-op that returns the current version. Concurrent
    publishers are serialised by a transaction-scoped advisory lock, so version numbers never clash.
    Writes an audit entry holding the old -> new diff. Raises RulesPublishError when the rules
    name another association (association.slug is the tenant's identity and never changes).
    """
    slug = rules.association.slug
    if slug and slug != connection.schema_name:
        raise RulesPublishError(
            [RulesProblem("rules", "association.slug", repr(connection.schema_name), repr(slug))]
        )
    payload = rules_to_data(rules)
    sha256 = rules_payload_sha256(payload)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"rules-publish:{connection.schema_name}"]
            )
        current = RulesVersion.objects.order_by("-number").first()
        if current is not None and current.sha256 == sha256:
            return current
        label = actor_label or (actor.username if actor is not None else "system")
        version = RulesVersion.objects.create(
            number=(current.number + 1) if current else 1,
            payload=payload,
            sha256=sha256,
            published_by=actor,
            published_by_label=label,
            comment=comment,
        )
        changes = rules_diff(current.payload if current else {}, payload)
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="rules.publish",
            target=version,
            data={
                "number": version.number,
                "previous": current.number if current else None,
                "sha256": sha256,
                "changes": [
                    {"path": change.key_path, "old": change.old, "new": change.new} for change in changes
                ],
            },
        )
        transaction.on_commit(rules_cache_forget)
    return version

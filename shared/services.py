"""Kernel services: the audit log."""

from django.db import models

from shared.accounts.models import User
from shared.models import AuditEntry


def describe_actor(actor: User | None) -> str:
    if actor is None:
        return "system"
    return f"{actor.username} ({actor.name})" if actor.name else actor.username


def audit_record(
    *,
    actor: User | None,
    action: str,
    actor_label: str | None = None,
    target: models.Model | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Write one audit entry in the current schema. Call it inside the transaction of the change.

    `actor` must be an account of the current schema. Someone from another schema (a platform
    operator acting inside a tenant) is recorded by `actor_label` alone.
    """
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label or describe_actor(actor),
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        data=data or {},
    )

"""Operator services: bootstrap the platform, onboard, suspend and resume associations, domains."""

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from shared.accounts.models import StaffRole, User, UserKind
from shared.accounts.services import IssuedInvitation, invitation_create
from shared.errors import CodedError
from shared.models import AuditEntry
from shared.services import audit_record, describe_actor
from tenant_configs.schema import Rules
from tenant_configs.selectors import rules_current_version
from tenant_configs.services import rules_publish
from tenants.models import Association, AssociationStatus, Domain, TenantUsageSnapshot
from tenants.schemas import schema_create_from_template
from tenants.selectors import routing_cache_forget, tenant_hostnames

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
HOSTNAME_PATTERN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
RESERVED_SLUGS = frozenset(
    {
        "public",
        "www",
        "admin",
        "api",
        "static",
        "media",
        "pg_catalog",
        "information_schema",
        "tenant_template",
    }
)


class TenantError(CodedError):
    """A refused operator action; `code` is stable for the API, `message` is for people."""


@dataclass(frozen=True)
class OnboardingResult:
    tenant: Association
    domain: Domain
    rules_version: int
    invitation: IssuedInvitation


def default_hostname(slug: str) -> str:
    # Schema names may hold "_", host names may not.
    return f"{slug.replace('_', '-')}.{settings.PLATFORM_DOMAIN}"


def normalise_hostname(hostname: str) -> str:
    hostname = hostname.strip().lower().rstrip(".")
    if ":" in hostname:
        hostname = hostname.split(":", 1)[0]
    if not HOSTNAME_PATTERN.match(hostname):
        raise TenantError("domain_invalid", f"域名格式不正确：{hostname or '（空）'}")
    return hostname


def platform_bootstrap() -> Association:
    """Create the public tenant with the platform's own host, and the template schema. Idempotent."""
    with schema_context(get_public_schema_name()):
        public, _ = Association.objects.get_or_create(
            schema_name=get_public_schema_name(),
            defaults={"slug": "public", "name": "协会培训报名与会员平台", "short_name": "平台"},
        )
        for hostname in {settings.PLATFORM_DOMAIN, "127.0.0.1"}:
            Domain.objects.get_or_create(
                domain=hostname,
                defaults={"tenant": public, "is_primary": hostname == settings.PLATFORM_DOMAIN},
            )
        if not Association.objects.filter(schema_name=settings.TENANT_BASE_SCHEMA).exists():
            # No template to clone from yet, so this one is created by running the migrations.
            Association(
                schema_name=settings.TENANT_BASE_SCHEMA,
                slug=settings.TENANT_BASE_SCHEMA,
                name="新协会模板",
                status=AssociationStatus.TEMPLATE,
            ).save(verbosity=0)
    return public


def tenant_onboard(
    *,
    rules: Rules,
    hostname: str | None = None,
    actor: User | None = None,
    admin_name: str = "",
    admin_email: str = "",
    admin_phone: str = "",
) -> OnboardingResult:
    """Create an association from its rules: schema, domain, rules version 1, first admin invitation.

    All or nothing: everything happens in one transaction (PostgreSQL DDL is transactional), so a
    failure leaves no schema, tenant row or domain behind. Raises TenantError with code
    slug_missing / slug_invalid / slug_taken / domain_invalid / domain_taken.
    """
    association = rules.association
    slug = association.slug
    if not slug:
        raise TenantError("slug_missing", "规则文件缺少 association.slug（协会标识）")
    if not SLUG_PATTERN.match(slug) or slug in RESERVED_SLUGS:
        raise TenantError("slug_invalid", f"协会标识不可用：{slug}")
    hostname = normalise_hostname(hostname or default_hostname(slug))
    operator_label = f"operator:{describe_actor(actor)}"

    connection.set_schema_to_public()
    with transaction.atomic():
        if Association.objects.filter(slug__iexact=slug).exists() or schema_exists(
            slug, case_sensitive=False
        ):
            raise TenantError("slug_taken", f"协会标识已存在：{slug}")
        if Domain.objects.filter(domain__iexact=hostname).exists():
            raise TenantError("domain_taken", f"域名已被使用：{hostname}")
        tenant = Association(
            schema_name=slug,
            slug=slug,
            name=association.name or slug,
            short_name=association.short_name,
            province=association.province,
        )
        tenant.auto_create_schema = False  # the schema is made below, from the template
        try:
            with transaction.atomic():
                tenant.save(verbosity=0)
                domain = Domain.objects.create(domain=hostname, tenant=tenant, is_primary=True)
        except IntegrityError as error:  # a concurrent onboarding took the slug or host first
            raise TenantError("slug_taken", f"协会标识或域名已存在：{slug} / {hostname}") from error

        schema_create_from_template(tenant.schema_name)
        with schema_context(tenant.schema_name):
            version = rules_publish(rules=rules, actor=None, actor_label=operator_label, comment="开通协会")
            invitation = invitation_create(
                kind=UserKind.STAFF,
                staff_roles=[StaffRole.ADMIN],
                name=admin_name or f"{tenant.short_name or tenant.name}管理员",
                email=admin_email,
                phone=admin_phone,
                created_by_label=operator_label,
            )
        audit_record(
            actor=actor,
            action="tenant.onboard",
            target=tenant,
            data={"slug": slug, "domain": hostname, "rules_version": version.number},
        )
        transaction.on_commit(lambda: routing_cache_forget([hostname]))
    return OnboardingResult(tenant=tenant, domain=domain, rules_version=version.number, invitation=invitation)


def tenant_invite_admin(
    *, tenant: Association, actor: User | None, name: str = "", email: str = ""
) -> IssuedInvitation:
    """Issue another association-admin invitation (for example when the first one expired)."""
    with schema_context(tenant.schema_name), transaction.atomic():
        return invitation_create(
            kind=UserKind.STAFF,
            staff_roles=[StaffRole.ADMIN],
            name=name or f"{tenant.short_name or tenant.name}管理员",
            email=email,
            created_by_label=f"operator:{describe_actor(actor)}",
        )


def _set_status(
    *, tenant: Association, status: str, actor: User | None, reason: str, action: str
) -> Association:
    connection.set_schema_to_public()
    with transaction.atomic():
        locked = Association.objects.select_for_update().get(pk=tenant.pk)
        if locked.status == status:
            return locked
        if locked.status == AssociationStatus.TEMPLATE or locked.schema_name == get_public_schema_name():
            raise TenantError("not_an_association", "该租户不能被暂停或恢复")
        locked.status = status
        locked.suspended_at = timezone.now() if status == AssociationStatus.SUSPENDED else None
        locked.suspended_reason = reason if status == AssociationStatus.SUSPENDED else ""
        locked.save(update_fields=["status", "suspended_at", "suspended_reason"])
        audit_record(actor=actor, action=action, target=locked, data={"reason": reason})
        hostnames = tenant_hostnames(locked)
        transaction.on_commit(lambda: routing_cache_forget(hostnames))
    return locked


def tenant_suspend(*, tenant: Association, actor: User | None, reason: str = "") -> Association:
    """Suspend an association: its site answers 503 naming it; all data is kept. No-op if suspended."""
    return _set_status(
        tenant=tenant, status=AssociationStatus.SUSPENDED, actor=actor, reason=reason, action="tenant.suspend"
    )


def tenant_resume(*, tenant: Association, actor: User | None) -> Association:
    return _set_status(
        tenant=tenant, status=AssociationStatus.ACTIVE, actor=actor, reason="", action="tenant.resume"
    )


def domain_add(*, tenant: Association, hostname: str, actor: User | None, primary: bool = False) -> Domain:
    hostname = normalise_hostname(hostname)
    connection.set_schema_to_public()
    with transaction.atomic():
        if Domain.objects.filter(domain__iexact=hostname).exists():
            raise TenantError("domain_taken", f"域名已被使用：{hostname}")
        if primary:
            Domain.objects.filter(tenant=tenant, is_primary=True).update(is_primary=False)
        domain = Domain.objects.create(domain=hostname, tenant=tenant, is_primary=primary)
        audit_record(
            actor=actor, action="domain.add", target=tenant, data={"domain": hostname, "primary": primary}
        )
        transaction.on_commit(lambda: routing_cache_forget([hostname]))
    return domain


def domain_remove(*, tenant: Association, hostname: str, actor: User | None) -> None:
    connection.set_schema_to_public()
    with transaction.atomic():
        domain = Domain.objects.select_for_update().filter(tenant=tenant, domain=hostname).first()
        if domain is None:
            raise TenantError("domain_unknown", f"该协会没有域名：{hostname}")
        if domain.is_primary:
            raise TenantError("domain_primary", "不能删除主域名，请先设置其他主域名")
        domain.delete()
        audit_record(actor=actor, action="domain.remove", target=tenant, data={"domain": hostname})
        transaction.on_commit(lambda: routing_cache_forget([hostname]))


def usage_collect(*, schema_name: str) -> TenantUsageSnapshot:
    """Count the current tenant's users and activity and store the figures in the public schema.

    Must run with the connection on `schema_name` (the Celery task guarantees it); the schema name
    is passed in and checked so a task run in the wrong schema fails instead of mislabelling data.
    """
    if connection.schema_name != schema_name:
        raise RuntimeError(f"usage_collect for {schema_name} ran in schema {connection.schema_name}")
    users_by_kind = dict(
        User.objects.values_list("kind").annotate(count=Count("id")).values_list("kind", "count")
    )
    version = rules_current_version()
    figures = {
        "users": sum(users_by_kind.values()),
        "users_by_kind": users_by_kind,
        "rules_version": version.number if version else None,
        "audit_entries_24h": AuditEntry.objects.filter(
            created_at__gte=timezone.now() - timezone.timedelta(hours=24)
        ).count(),
    }
    tenant = Association.objects.get(schema_name=schema_name)  # public table, reachable via search_path
    return TenantUsageSnapshot.objects.create(tenant=tenant, schema_name=schema_name, figures=figures)

"""Public-schema models: associations (tenants), their host names, and usage snapshots."""

from django.db import models
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin


class AssociationStatus(models.TextChoices):
    ACTIVE = "active", "运行中"
    SUSPENDED = "suspended", "已暂停"
    # The always-migrated schema new tenants are cloned from; it has no domain and serves nothing.
    TEMPLATE = "template", "模板"


class Association(TenantMixin):
    slug = models.SlugField("标识", max_length=31, unique=True)
    name = models.CharField("协会名称", max_length=100)
    short_name = models.CharField("简称", max_length=40, blank=True)
    province = models.CharField("省份", max_length=20, blank=True)
    status = models.CharField(
        "状态", max_length=20, choices=AssociationStatus.choices, default=AssociationStatus.ACTIVE
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    suspended_at = models.DateTimeField("暂停时间", null=True, blank=True)
    suspended_reason = models.CharField("暂停原因", max_length=200, blank=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        verbose_name = "协会"
        verbose_name_plural = "协会"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == AssociationStatus.SUSPENDED


class Domain(DomainMixin):
    class Meta:
        verbose_name = "域名"
        verbose_name_plural = "域名"

    def __str__(self) -> str:
        return self.domain


class TenantUsageSnapshot(models.Model):
    """Per-tenant figures collected by a Celery task running inside each tenant's schema."""

    tenant = models.ForeignKey(Association, on_delete=models.CASCADE, related_name="usage_snapshots")
    collected_at = models.DateTimeField(default=timezone.now)
    schema_name = models.CharField(max_length=63)
    figures = models.JSONField(default=dict)

    class Meta:
        ordering = ["-collected_at", "-id"]
        get_latest_by = "collected_at"

    def __str__(self) -> str:
        return f"{self.schema_name} @ {self.collected_at:%Y-%m-%d %H:%M}"

"""Published rules versions, kept forever in the tenant's own schema."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class RulesVersion(models.Model):
    """One immutable published version of an association's rules.

    Applications, orders and memberships record the `number` they were decided under.
    """

    number = models.PositiveIntegerField("版本号", unique=True)
    payload = models.JSONField("规则内容")
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField("发布时间", default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_by_label = models.CharField("发布人", max_length=150)
    comment = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "规则版本"
        verbose_name_plural = "规则版本"
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RulesVersionImmutable(f"rules version {self.number} is published and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RulesVersionImmutable(f"rules version {self.number} is kept forever")


class RulesVersionImmutable(Exception):
    pass

"""The certificate registry: issued certificates (证书), their numbering counters and batch issuance jobs.

A certificate is issued once per (kind, holder, application) and never changes afterwards, except for
revocation. Expiry is not stored: a certificate whose `valid_until` has passed is shown as expired
(`Certificate.state`), so no beat task has to run for it to be right and revocation always wins.
"""

from __future__ import annotations

import secrets
from datetime import date

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class CertificateStatus(models.TextChoices):
    ISSUED = "issued", "有效"
    REVOKED = "revoked", "已撤销"


# The one transition table of a certificate (DESIGN §5). Expiry is computed from valid_until (see
# `Certificate.state`), not a stored transition.
CERTIFICATE_TRANSITIONS: dict[str, frozenset[str]] = {
    CertificateStatus.ISSUED: frozenset({CertificateStatus.REVOKED}),
    CertificateStatus.REVOKED: frozenset(),
}


class CertificateState(models.TextChoices):
    """What a certificate is worth today, as the verification page shows it."""

    VALID = "valid", "有效"
    EXPIRED = "expired", "已过期"
    REVOKED = "revoked", "已撤销"


def verification_code_new() -> str:
    """128 random bits, URL-safe (22 characters): the QR code's token, not derivable from the number."""
    return secrets.token_urlsafe(16)


def certificate_pdf_upload_to(instance: Certificate, filename: str) -> str:
    # The storage prefixes the tenant's schema; the name carries no personal data.
    return f"certificates/{instance.issued_at:%Y}/{instance.verification_code}.pdf"


class CertificateBatchStatus(models.TextChoices):
    QUEUED = "queued", "排队中"
    RUNNING = "running", "发放中"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


class CertificateBatch(models.Model):
    """Issuing one kind of certificate to many holders in a background job, with its progress."""

    kind_code = models.CharField("证书种类", max_length=41)
    title = models.CharField("证书名称", max_length=100)
    program = models.ForeignKey(
        "registration.Program", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    application_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    status = models.CharField(
        "状态", max_length=20, choices=CertificateBatchStatus.choices, default=CertificateBatchStatus.QUEUED
    )
    total = models.PositiveIntegerField("总数", default=0)
    done_count = models.PositiveIntegerField("已完成", default=0)
    error = models.CharField("错误", max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "批量发证"
        verbose_name_plural = "批量发证"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done_count__lte=models.F("total")), name="certificates_batch_done_le_total"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} × {self.total}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else self.done_count * 100 // self.total

    @property
    def is_finished(self) -> bool:
        return self.status in (CertificateBatchStatus.DONE, CertificateBatchStatus.FAILED)


class Certificate(models.Model):
    kind_code = models.CharField("证书种类", max_length=41)
    kind = models.CharField("类别", max_length=30)
    title = models.CharField("证书名称", max_length=100)
    number = models.CharField("证书编号", max_length=64, unique=True)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates", verbose_name="持证人"
    )
    # Who the holder was when the certificate was issued: name, id_number, id_number_masked,
    # company_name, photo_document_id (the photo stays a private document; superseded photos are kept).
    holder_snapshot = models.JSONField("持证人信息", default=dict)
    application = models.ForeignKey(
        "registration.Application", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What else it certifies when an application does not say it, e.g. "membership:<fee id>" for one paid
    # membership period: a renewal is a new certificate, the same period is the same one.
    subject = models.CharField("发证事由", max_length=60, blank=True)
    program_code = models.CharField("培训项目", max_length=41, blank=True)
    program_name = models.CharField("培训项目名称", max_length=120, blank=True)
    issued_at = models.DateTimeField("发证时间")
    valid_until = models.DateField("有效期至", null=True, blank=True)
    status = models.CharField(
        "状态", max_length=20, choices=CertificateStatus.choices, default=CertificateStatus.ISSUED
    )
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField("撤销原因", max_length=200, blank=True)
    verification_code = models.CharField(max_length=32, unique=True, default=verification_code_new)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        CertificateBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="certificates"
    )
    # The rendered PDF, stored once by a background job (the certificate never changes once issued).
    pdf = models.FileField(upload_to=certificate_pdf_upload_to, max_length=200, blank=True)

    class Meta:
        verbose_name = "证书"
        verbose_name_plural = "证书"
        ordering = ["-issued_at", "-id"]
        constraints = [
            # Issuing is idempotent: one certificate per kind, holder, application (or none) and subject.
            models.UniqueConstraint(
                fields=["kind_code", "holder", "application", "subject"],
                nulls_distinct=False,
                name="certificates_one_per_kind_holder_application",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="revoked")
                | (~models.Q(revoke_reason="") & models.Q(revoked_at__isnull=False)),
                name="certificates_revoked_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["kind_code", "issued_at"], name="certificates_kind_issued")]

    def __str__(self) -> str:
        return f"{self.title} {self.number}"

    def state(self, today: date | None = None) -> str:
        """有效 / 已过期 / 已撤销 on `today` (local date); revocation wins over expiry."""
        if self.status == CertificateStatus.REVOKED:
            return CertificateState.REVOKED
        today = today or timezone.localdate()
        if self.valid_until is not None and self.valid_until < today:
            return CertificateState.EXPIRED
        return CertificateState.VALID

    def state_label(self, today: date | None = None) -> str:
        return CertificateState(self.state(today)).label


class CertificateCounter(models.Model):
    """The last sequence number used per kind and year; taken under a row lock when issuing."""

    kind_code = models.CharField(max_length=41)
    year = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind_code", "year"], name="certificates_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind_code} {self.year}: {self.last_seq}"

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


# ---------------------------------------------------------------------------------------------------------
# exams: sessions, seats (with the admission ticket), scores and the association's review of passes
# ---------------------------------------------------------------------------------------------------------


class ExamSessionKind(models.TextChoices):
    NORMAL = "normal", "正常考试"
    RETAKE = "retake", "补考"


class ExamSession(models.Model):
    """One sitting of a program's exam: where and when, how many seats, and when tickets may be printed."""

    program = models.ForeignKey(
        "registration.Program",
        on_delete=models.PROTECT,
        related_name="exam_sessions",
        verbose_name="培训项目",
    )
    name = models.CharField("考试名称", max_length=120)
    kind = models.CharField("考试类型", max_length=10, choices=ExamSessionKind.choices, default="normal")
    starts_at = models.DateTimeField("考试时间")
    location = models.CharField("考试地点", max_length=200)
    seats = models.PositiveIntegerField("座位数")
    seats_taken = models.PositiveIntegerField("已安排", default=0)
    print_opens_at = models.DateTimeField("开始打印")
    print_closes_at = models.DateTimeField("停止打印")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "考试场次"
        verbose_name_plural = "考试场次"
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(seats_taken__lte=models.F("seats")), name="certificates_exam_seats_le"
            ),
            models.CheckConstraint(
                condition=models.Q(print_opens_at__lt=models.F("print_closes_at")),
                name="certificates_exam_print_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_kind_display()}）"


class ExamEntryStatus(models.TextChoices):
    ASSIGNED = "assigned", "已安排"
    ABSENT = "absent", "缺考"
    SCORED = "scored", "已录入成绩"


# The one transition table of an exam entry (DESIGN §5): a score or an absence is final for that sitting;
# someone who failed sits again in a retake session (a new entry).
EXAM_ENTRY_TRANSITIONS: dict[str, frozenset[str]] = {
    ExamEntryStatus.ASSIGNED: frozenset({ExamEntryStatus.ABSENT, ExamEntryStatus.SCORED}),
    ExamEntryStatus.ABSENT: frozenset(),
    ExamEntryStatus.SCORED: frozenset(),
}


class ExamEntry(models.Model):
    """An application's seat in an exam session, with its admission ticket (准考证/测试证) number."""

    session = models.ForeignKey(ExamSession, on_delete=models.PROTECT, related_name="entries")
    application = models.ForeignKey(
        "registration.Application", on_delete=models.PROTECT, related_name="exam_entries"
    )
    seat_number = models.PositiveIntegerField("座位号")
    ticket_number = models.CharField("准考证号", max_length=64, unique=True)
    status = models.CharField(
        "状态", max_length=20, choices=ExamEntryStatus.choices, default=ExamEntryStatus.ASSIGNED
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "考生座位"
        verbose_name_plural = "考生座位"
        ordering = ["session", "seat_number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seat_number"], name="certificates_exam_seat_unique"),
            models.UniqueConstraint(
                fields=["session", "application"], name="certificates_exam_one_seat_per_application"
            ),
            # No double-booking: an application holds at most one seat not yet scored or marked absent.
            models.UniqueConstraint(
                fields=["application"],
                condition=models.Q(status="assigned"),
                name="certificates_exam_one_open_seat",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session} · {self.seat_number}"


class ScoreSource(models.TextChoices):
    MANUAL = "manual", "手工录入"
    IMPORT = "import", "Excel 导入"


class Score(models.Model):
    """The score of one entry; `passed` is decided by certificates.rules_exams from the tenant's ExamRules
    when it is entered. The association then reviews passes (成绩确认), which issues the qualification."""

    entry = models.OneToOneField(ExamEntry, on_delete=models.PROTECT, related_name="score")
    score = models.DecimalField("分数", max_digits=5, decimal_places=1)
    passed = models.BooleanField("合格")
    source = models.CharField("来源", max_length=10, choices=ScoreSource.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now)
    pass_reviewed_at = models.DateTimeField("成绩确认时间", null=True, blank=True)
    pass_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    certificate = models.ForeignKey(
        Certificate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "成绩"
        verbose_name_plural = "成绩"
        constraints = [
            models.CheckConstraint(condition=models.Q(score__gte=0), name="certificates_score_not_negative"),
            models.CheckConstraint(
                condition=models.Q(pass_reviewed_at__isnull=True) | models.Q(passed=True),
                name="certificates_score_review_only_passes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry} · {self.score}"


# ---------------------------------------------------------------------------------------------------------
# continuing education (继续教育): hours recorded against a certificate, counted per cycle
# ---------------------------------------------------------------------------------------------------------


class ContinuingEducationSource(models.TextChoices):
    STAFF = "staff", "工作人员录入"
    LEARNING = "learning", "在线学习"


class ContinuingEducationHours(models.Model):
    """Hours (学时) of continuing education credited to one certificate, in the cycle they were earned.

    `cycle_start` is fixed when the hours are recorded (the certificate's cycle on that day, see
    certificates.selectors.ce_cycle), so a later change of `cycle_years` never moves hours between cycles.
    Hours from learning name their course: a course credits a certificate once."""

    certificate = models.ForeignKey(
        Certificate, on_delete=models.PROTECT, related_name="ce_hours", verbose_name="证书"
    )
    hours = models.DecimalField("学时", max_digits=5, decimal_places=1)
    source = models.CharField("来源", max_length=10, choices=ContinuingEducationSource.choices)
    course = models.ForeignKey(
        "learning.Course", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField("说明", max_length=200, blank=True)
    cycle_start = models.DateField("继续教育周期起始日")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField("录入时间", default=timezone.now)

    class Meta:
        verbose_name = "继续教育学时"
        verbose_name_plural = "继续教育学时"
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(hours__gt=0), name="certificates_ce_hours_positive"),
            models.CheckConstraint(
                condition=models.Q(source="staff") | models.Q(course__isnull=False),
                name="certificates_ce_learning_has_course",
            ),
            models.UniqueConstraint(
                fields=["certificate", "course"],
                condition=models.Q(course__isnull=False),
                name="certificates_ce_one_credit_per_course",
            ),
        ]
        indexes = [models.Index(fields=["certificate", "cycle_start"], name="certificates_ce_cycle")]

    def __str__(self) -> str:
        return f"{self.certificate_id} · {self.hours} 学时"

"""Programs, their sessions (期次/班次) with seats and windows, and applications (报名)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Program(models.Model):
    """A training program the association runs; its rules are `rules.program(code)`."""

    code = models.CharField("项目编码", max_length=41, unique=True)
    name = models.CharField("项目名称", max_length=120)
    is_open = models.BooleanField("开放报名", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "培训项目"
        verbose_name_plural = "培训项目"

    def __str__(self) -> str:
        return self.name


class TrainingSession(models.Model):
    """期次/班次: where and when, how many seats, the enrolment window and the fee."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="sessions")
    code = models.CharField("班次编号", max_length=40)
    name = models.CharField("班次名称", max_length=120)
    unit_code = models.CharField("分会/地区/地市", max_length=41, blank=True)
    institution_code = models.CharField("培训机构", max_length=41, blank=True)
    location = models.CharField("培训地点", max_length=200, blank=True)
    capacity = models.PositiveIntegerField("计划人数", default=0, help_text="0 表示不限")
    seats_taken = models.PositiveIntegerField("已报人数", default=0)
    opens_at = models.DateTimeField("报名开始", null=True, blank=True)
    closes_at = models.DateTimeField("报名结束", null=True, blank=True)
    starts_on = models.DateField("开班日期", null=True, blank=True)
    ends_on = models.DateField("结束日期", null=True, blank=True)
    fee_fen = models.PositiveIntegerField("费用（分）", default=0)
    materials_fee_fen = models.PositiveIntegerField("教材费（分）", default=0)
    waiting_list = models.BooleanField("候补", default=False)

    class Meta:
        verbose_name = "期次/班次"
        verbose_name_plural = "期次/班次"
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="registration_session_code_unique"),
            # The seat counter can never pass the capacity, whatever the code above it does.
            models.CheckConstraint(
                condition=models.Q(capacity=0) | models.Q(seats_taken__lte=models.F("capacity")),
                name="registration_session_not_overbooked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.program} · {self.name}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交"
    COMPANY_REVIEW = "company_review", "单位审核中"
    INSTITUTION_REVIEW = "institution_review", "机构确认中"
    ASSOCIATION_REVIEW = "association_review", "审核中"
    APPROVED = "approved", "待支付"
    REJECTED = "rejected", "审核不通过"
    PAID = "paid", "已支付"
    COMPLETED = "completed", "已完成"
    WAITLISTED = "waitlisted", "候补中"
    WITHDRAWN = "withdrawn", "已撤回"
    EXPIRED = "expired", "已过期"


# Statuses that no longer hold the person's one enrolment in the program (nor a seat).
RELEASED_STATUSES = frozenset({ApplicationStatus.WITHDRAWN, ApplicationStatus.EXPIRED})

# The one transition table of an application (DESIGN §5).
APPLICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    ApplicationStatus.SUBMITTED: frozenset(
        {"company_review", "institution_review", "association_review", "approved", "withdrawn"}
    ),
    ApplicationStatus.COMPANY_REVIEW: frozenset(
        {"institution_review", "association_review", "approved", "rejected", "withdrawn"}
    ),
    ApplicationStatus.INSTITUTION_REVIEW: frozenset(
        {"association_review", "approved", "rejected", "withdrawn"}
    ),
    ApplicationStatus.ASSOCIATION_REVIEW: frozenset({"approved", "rejected", "withdrawn"}),
    ApplicationStatus.REJECTED: frozenset({"submitted", "withdrawn"}),
    ApplicationStatus.WAITLISTED: frozenset({"submitted", "withdrawn", "expired"}),
    ApplicationStatus.APPROVED: frozenset({"paid", "expired", "withdrawn"}),
    ApplicationStatus.PAID: frozenset({"completed"}),
    ApplicationStatus.COMPLETED: frozenset(),
    ApplicationStatus.WITHDRAWN: frozenset(),
    ApplicationStatus.EXPIRED: frozenset(),
}


class Application(models.Model):
    session = models.ForeignKey(TrainingSession, on_delete=models.PROTECT, related_name="applications")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="applications")
    # What "one enrolment" means under the program's rules: the program code when a person may enrol
    # once per program (one_enrolment_per_person), else program and session. The database holds it unique.
    enrolment_key = models.CharField(max_length=100)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications"
    )
    company = models.ForeignKey(
        "accounts.Company", null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    channel = models.CharField(max_length=10, choices=[("self", "个人报名"), ("company", "单位报名")])
    status = models.CharField(
        max_length=30, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    holds_seat = models.BooleanField(default=False)
    answers = models.JSONField(default=dict, blank=True)
    with_materials = models.BooleanField(null=True, blank=True)
    fee_fen = models.PositiveIntegerField(default=0)
    rules_version = models.PositiveIntegerField("规则版本")
    rejection_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "报名"
        verbose_name_plural = "报名"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One enrolment per person per program, whichever channel came first (DESIGN §3, shanghai).
            models.UniqueConstraint(
                fields=["enrolment_key", "person"],
                condition=~models.Q(status__in=["withdrawn", "expired"]),
                name="registration_one_enrolment_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.session} · {self.get_status_display()}"

"""Programs, their sessions (期次/班次) with seats and windows, and applications (报名)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
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
    # The class list columns of the shanghai seed (课程类型 / 活动类型 / 专业).
    course_type = models.CharField("课程类型", max_length=50, blank=True)
    activity_type = models.CharField("活动类型", max_length=50, blank=True)
    major = models.CharField("专业", max_length=50, blank=True)
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
    DRAFT = "draft", "草稿"
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
# Statuses that hold the enrolment (the unique constraint's scope): everything but drafts and released.
NOT_ENROLLED_STATUSES = RELEASED_STATUSES | {ApplicationStatus.DRAFT}
# Waiting for a reviewer: the queue of each step of the review chain.
REVIEW_STATUSES: dict[str, str] = {
    "company": "company_review",
    "institution": "institution_review",
    "association": "association_review",
}

# The one transition table of an application (DESIGN §5).
APPLICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    # A draft is submitted into its first review step (or straight to approved), or put on the waiting list.
    ApplicationStatus.DRAFT: frozenset(
        {"company_review", "institution_review", "association_review", "approved", "waitlisted", "withdrawn"}
    ),
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
    # Resubmitted after corrections: back into the first step of the chain (or the waiting list).
    ApplicationStatus.REJECTED: frozenset(
        {"company_review", "institution_review", "association_review", "approved", "waitlisted", "withdrawn"}
    ),
    # Promoted when a seat frees.
    ApplicationStatus.WAITLISTED: frozenset(
        {"company_review", "institution_review", "association_review", "approved", "withdrawn", "expired"}
    ),
    ApplicationStatus.APPROVED: frozenset({"paid", "expired", "withdrawn"}),
    ApplicationStatus.PAID: frozenset({"completed"}),
    ApplicationStatus.COMPLETED: frozenset(),
    ApplicationStatus.WITHDRAWN: frozenset(),
    ApplicationStatus.EXPIRED: frozenset(),
}


class Application(models.Model):
    # Null only for a draft whose session is not chosen yet (the henan wizard picks city and institution
    # first; the session is resolved from them on submit).
    session = models.ForeignKey(
        TrainingSession, null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
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
    # The review steps this application goes through, fixed when it is submitted (rules may change later).
    review_chain = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    wizard_step = models.CharField("草稿所在步骤", max_length=41, blank=True)
    with_materials = models.BooleanField(null=True, blank=True)
    fee_fen = models.PositiveIntegerField(default=0)
    rules_version = models.PositiveIntegerField("规则版本")
    rejection_reason = models.CharField(max_length=200, blank=True)
    # Continuing education keyed by certificate number: the applicant's own certificate the answer named,
    # checked when submitted (registration.services). Null for every other program.
    certificate = models.ForeignKey(
        "certificates.Certificate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="continuing_education_applications",
        verbose_name="继续教育证书",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "报名"
        verbose_name_plural = "报名"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One enrolment per person per program, whichever channel came first (DESIGN §3, shanghai).
            models.UniqueConstraint(
                fields=["enrolment_key", "person"],
                condition=~models.Q(status__in=["draft", "withdrawn", "expired"]),
                name="registration_one_enrolment_per_person",
            ),
            # One resumable draft per person and program.
            models.UniqueConstraint(
                fields=["program", "person"],
                condition=models.Q(status="draft"),
                name="registration_one_draft_per_person",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(session__isnull=False),
                name="registration_submitted_has_session",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(rejection_reason=""),
                name="registration_rejected_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="registration_app_status"),
            models.Index(fields=["company", "status"], name="registration_app_company"),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.session or self.program} · {self.get_status_display()}"

    @property
    def number(self) -> str:
        """报名编号 shown to people and printed on the form: stable and unique within the tenant."""
        return f"BM{self.created_at:%Y}{self.pk:07d}"


class ApplicationDocument(models.Model):
    """A document submitted with an application: the person's current upload at the time it was sent."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    key = models.CharField(max_length=41)
    document = models.ForeignKey("documents.Document", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["application", "key"], name="registration_one_document_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.key}"


class PledgeAcceptance(models.Model):
    """Who accepted which text of a pledge, and when: the text itself is kept, not only its version."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="pledges")
    key = models.CharField(max_length=41)
    title = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["accepted_at", "id"]

    def __str__(self) -> str:
        return f"《{self.title}》v{self.version}"


class ApplicationEvent(models.Model):
    """One step of an application's history: submitted, each review decision with its reason, edits,
    withdrawal, promotion from the waiting list. The applicant sees these; each names its rules version."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20)
    step = models.CharField(max_length=20, blank=True)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    reason = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=120, blank=True)
    rules_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}→{self.to_status}"

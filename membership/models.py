"""Person <-> company affiliation: a person asks to join a company, the company decides."""

from django.db import models
from django.utils import timezone

from shared.accounts.models import Company, User


class JoinRequestStatus(models.TextChoices):
    PENDING = "pending", "待审核"
    APPROVED = "approved", "已同意"
    REJECTED = "rejected", "已拒绝"
    WITHDRAWN = "withdrawn", "已撤回"


# The one transition table of a join request (DESIGN §5): from -> allowed next states.
JOIN_REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    JoinRequestStatus.PENDING: frozenset(
        {JoinRequestStatus.APPROVED, JoinRequestStatus.REJECTED, JoinRequestStatus.WITHDRAWN}
    ),
    JoinRequestStatus.APPROVED: frozenset(),
    JoinRequestStatus.REJECTED: frozenset(),
    JoinRequestStatus.WITHDRAWN: frozenset(),
}


class JoinRequest(models.Model):
    person = models.ForeignKey(User, on_delete=models.CASCADE, related_name="join_requests")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="join_requests")
    status = models.CharField(
        max_length=20, choices=JoinRequestStatus.choices, default=JoinRequestStatus.PENDING
    )
    reason = models.CharField("拒绝原因", max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "加入单位申请"
        verbose_name_plural = "加入单位申请"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open request per person at a time.
            models.UniqueConstraint(
                fields=["person"],
                condition=models.Q(status="pending"),
                name="membership_one_pending_join_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} → {self.company} ({self.get_status_display()})"


# ---------------------------------------------------------------------------------------------------------
# association membership (个人会员): DESIGN §4 gansu, §5 Membership
# ---------------------------------------------------------------------------------------------------------


class MembershipStatus(models.TextChoices):
    """Display words come from the rules' `membership.status_labels` (`membership.selectors.status_label`)."""

    APPLIED = "applied", "个人提交"
    RECOMMENDED_NEW = "recommended_new", "企业推荐（新会员）"
    RECOMMENDED_RENEWAL = "recommended_renewal", "企业推荐（续期）"
    APPROVED = "approved", "待缴费"
    ACTIVE = "active", "正式会员"
    EXPIRED = "expired", "已过期"
    ROLLED_BACK = "rolled_back", "已回退"
    REJECTED = "rejected", "未通过"


# The one transition table of a membership: from -> allowed next states. Who may take each step and when
# (company recommendation required, electronic confirmation, roll back) is the services' check of the rules.
MEMBERSHIP_TRANSITIONS: dict[str, frozenset[str]] = {
    MembershipStatus.APPLIED: frozenset(
        {MembershipStatus.RECOMMENDED_NEW, MembershipStatus.APPROVED, MembershipStatus.REJECTED}
    ),
    MembershipStatus.RECOMMENDED_NEW: frozenset(
        {MembershipStatus.ROLLED_BACK, MembershipStatus.APPROVED, MembershipStatus.REJECTED}
    ),
    MembershipStatus.ROLLED_BACK: frozenset({MembershipStatus.RECOMMENDED_NEW, MembershipStatus.APPLIED}),
    MembershipStatus.RECOMMENDED_RENEWAL: frozenset(
        {MembershipStatus.EXPIRED, MembershipStatus.APPROVED, MembershipStatus.REJECTED}
    ),
    MembershipStatus.APPROVED: frozenset({MembershipStatus.ACTIVE}),
    MembershipStatus.ACTIVE: frozenset({MembershipStatus.EXPIRED}),
    MembershipStatus.EXPIRED: frozenset({MembershipStatus.RECOMMENDED_RENEWAL, MembershipStatus.APPROVED}),
    MembershipStatus.REJECTED: frozenset({MembershipStatus.APPLIED}),
}

# Waiting for the association's decision: the company may still roll these back.
AWAITING_DECISION = frozenset(
    {MembershipStatus.APPLIED, MembershipStatus.RECOMMENDED_NEW, MembershipStatus.RECOMMENDED_RENEWAL}
)
# Counted as a member by the registration engine (members-only trainings, members' price): the seed lets
# people the company has recommended take the association's trainings before the decision.
IN_GOOD_STANDING = frozenset(
    {
        MembershipStatus.RECOMMENDED_NEW,
        MembershipStatus.RECOMMENDED_RENEWAL,
        MembershipStatus.APPROVED,
        MembershipStatus.ACTIVE,
    }
)


class Membership(models.Model):
    """A person's association membership: one row per person, cycling through renewals."""

    person = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    status = models.CharField(
        "状态", max_length=24, choices=MembershipStatus.choices, default=MembershipStatus.APPLIED
    )
    # The application as submitted (locked for the person; staff changes are audited as events).
    answers = models.JSONField("申请信息", default=dict)
    photo = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    renewal = models.BooleanField("续期", default=False)
    applied_at = models.DateTimeField("申请时间", default=timezone.now)
    recommended_at = models.DateTimeField("推荐时间", null=True, blank=True)
    recommended_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        "RecommendationBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships"
    )
    decided_at = models.DateTimeField("审批时间", null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField("未通过原因", max_length=200, blank=True)
    starts_on = models.DateField("会员起始日", null=True, blank=True)
    ends_on = models.DateField("会员到期日", null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "个人会员"
        verbose_name_plural = "个人会员"
        ordering = ["-applied_at", "-id"]
        indexes = [
            models.Index(fields=["company", "status"], name="membership_company_status"),
            models.Index(fields=["status", "ends_on"], name="membership_status_ends"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(reason=""),
                name="membership_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="active") | models.Q(ends_on__isnull=False),
                name="membership_active_has_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.answers.get('name') or self.person} ({self.get_status_display()})"


EVENT_LABELS = {
    "apply": "提交入会申请",
    "reapply": "修改后重新申请",
    "recommend": "单位推荐（新会员）",
    "recommend_renewal": "单位推荐续期",
    "roll_back": "单位回退推荐",
    "confirm": "单位电子确认推荐",
    "approve": "协会审批通过",
    "reject": "协会审批不通过",
    "staff_edit": "协会修改申请信息",
    "activate": "会费已缴，成为正式会员",
    "expire": "会员到期",
    "fee_paid_unexpected": "收到会费（会员状态已变化，待财务处理）",
}


class MembershipEvent(models.Model):
    """Every step of a membership as its person, company and the association see it."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}→{self.to_status}"

    @property
    def action_label(self) -> str:
        return EVENT_LABELS.get(self.action, self.action)


class RecommendationBatch(models.Model):
    """A company's electronic recommendation (电子推荐): replaces the printed, stamped and scanned summary.

    The entries are a snapshot of who was recommended, hashed (sha256 of their canonical JSON) and kept
    with the PDF and the confirming operator, so the association can check exactly what was confirmed.
    """

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="recommendation_batches")
    number = models.CharField("推荐批号", max_length=24, unique=True)
    entries = models.JSONField("推荐人员", default=list)
    content_sha256 = models.CharField(max_length=64)
    confirmed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    confirmed_by_name = models.CharField("确认人", max_length=60)
    confirmed_at = models.DateTimeField("确认时间", default=timezone.now)
    pdf = models.BinaryField("汇总表 PDF")

    class Meta:
        verbose_name = "电子推荐"
        verbose_name_plural = "电子推荐"
        ordering = ["-confirmed_at", "-id"]

    def __str__(self) -> str:
        return self.number


class FeeStatus(models.TextChoices):
    DUE = "due", "待缴费"
    PAID = "paid", "已缴费"
    CANCELLED = "cancelled", "已取消"


class MembershipFee(models.Model):
    """会费 for one payment period, generated by approval and paid through billing."""

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="fees")
    years = models.PositiveSmallIntegerField("缴费年限")
    fee_per_year_fen = models.BigIntegerField("年费（分）")
    amount_fen = models.BigIntegerField("金额（分）")
    status = models.CharField(max_length=12, choices=FeeStatus.choices, default=FeeStatus.DUE)
    renewal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    period_starts_on = models.DateField(null=True, blank=True)
    period_ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership"], condition=models.Q(status="due"), name="membership_one_due_fee"
            ),
            models.CheckConstraint(condition=models.Q(amount_fen__gte=0), name="membership_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"会费 {self.years} 年 {self.amount_fen / 100:.2f} 元"


class ExpiryReminder(models.Model):
    """A reminder sent before a membership ends: at most once per (membership, end date, days before)."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="reminders")
    ends_on = models.DateField()
    days_before = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "ends_on", "days_before"], name="membership_reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} {self.ends_on} -{self.days_before}d"

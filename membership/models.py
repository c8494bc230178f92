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

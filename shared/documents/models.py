"""Private documents: an ID photo, a business licence, a diploma scan — one row per uploaded file.

Files live in the tenant's private storage (MEDIA_ROOT/<schema>/documents/<key>/<uuid><extension>) and are
served only by `views.document_file`, through `selectors.document_get_for_viewer`. The stored name never
contains anything the uploader chose.

A slot (owner + key, or company + key for company documents) has at most one *current* document: a new
upload supersedes the previous one, which is kept (with `superseded_by`) as the history of the slot.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from shared.accounts.models import Company, User

# The only content types a document can have: decided from the file's content by `check_upload`, never
# from what the browser claimed. Keyed by `DocumentFormat` value.
CONTENT_TYPES: dict[str, str] = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}
_EXTENSIONS: dict[str, str] = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
IMAGE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png"})


def document_upload_to(instance: Document, filename: str) -> str:
    """`documents/<key>/<uuid><extension>`, the extension from the checked content type.

    `filename` (whatever name the file arrived with) is deliberately ignored: a person's name, an ID
    number or `../x.php` never reaches the file system.
    """
    extension = _EXTENSIONS.get(instance.content_type, ".bin")
    return f"documents/{instance.key}/{uuid.uuid4().hex}{extension}"


class DocumentStatus(models.TextChoices):
    UPLOADED = "uploaded", "待确认"
    ACCEPTED = "accepted", "已确认"
    RETURNED = "returned", "已退回"


# The one transition table of a document (DESIGN §5): from -> allowed next states.
# A returned document stays returned: the owner answers it with a new upload, which supersedes it
# (`superseded_by`). A new upload may supersede a current document in any state; a superseded document
# takes no further transitions.
DOCUMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    DocumentStatus.UPLOADED: frozenset({DocumentStatus.ACCEPTED, DocumentStatus.RETURNED}),
    # Staff may revoke an acceptance, with a reason, like any return.
    DocumentStatus.ACCEPTED: frozenset({DocumentStatus.RETURNED}),
    DocumentStatus.RETURNED: frozenset(),
}


class Document(models.Model):
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="documents", verbose_name="上传人")
    # Set for a company's own documents (business licence): the slot then belongs to the company, and any
    # of its operators replaces the same current document.
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
        verbose_name="所属企业",
    )
    key = models.CharField("资料标识", max_length=41)
    file = models.FileField("文件", upload_to=document_upload_to, max_length=200)
    original_name = models.CharField("原文件名", max_length=255, blank=True)
    content_type = models.CharField("文件类型", max_length=50)
    size_bytes = models.PositiveIntegerField("文件大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    width = models.PositiveIntegerField("宽度（像素）", null=True, blank=True)
    height = models.PositiveIntegerField("高度（像素）", null=True, blank=True)
    status = models.CharField(
        "状态", max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.UPLOADED
    )
    return_reason = models.CharField("退回原因", max_length=200, blank=True)
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="确认人"
    )
    reviewed_at = models.DateTimeField("确认时间", null=True, blank=True)
    uploaded_at = models.DateTimeField("上传时间", default=timezone.now, db_index=True)
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="被替换为",
    )
    # Set together with `superseded_by`, but first: the "one current document per slot" constraints
    # below cannot be deferred (PostgreSQL partial unique indexes never are), so the old row leaves the
    # slot before the new row enters it.
    superseded_at = models.DateTimeField("替换时间", null=True, blank=True)

    class Meta:
        verbose_name = "资料"
        verbose_name_plural = "资料"
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["status", "uploaded_at"], name="documents_status_uploaded")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "key"],
                condition=models.Q(superseded_at__isnull=True, company__isnull=True),
                name="documents_one_current_per_owner_key",
            ),
            models.UniqueConstraint(
                fields=["company", "key"],
                condition=models.Q(superseded_at__isnull=True, company__isnull=False),
                name="documents_one_current_per_company_key",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=DocumentStatus.RETURNED) | ~models.Q(return_reason=""),
                name="documents_returned_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} #{self.pk} ({self.get_status_display()})"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGE_CONTENT_TYPES

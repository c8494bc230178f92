"""Orders (one payable unit, at most one invoice), payment attempts, the notify inbox, refunds, invoices
and the ledger. Money is integer fen; every stateful model has one transition table (DESIGN §5, §6)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class OrderStatus(models.TextChoices):
    OPEN = "open", "待支付"
    PAID = "paid", "已支付"
    CANCELLED = "cancelled", "已取消"


ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.OPEN: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class Order(models.Model):
    number = models.CharField("订单号", max_length=24, unique=True)
    # Offline transfers: the short reference the payer writes in the transfer remark (with a check digit).
    reference = models.CharField("汇款附言编码", max_length=12, unique=True)
    payer_company = models.ForeignKey(
        "accounts.Company", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    payer_person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField("状态", max_length=20, choices=OrderStatus.choices, default=OrderStatus.OPEN)
    total_fen = models.BigIntegerField("金额（分）")
    currency = models.CharField(max_length=3, default="CNY")
    with_materials = models.BooleanField(null=True, blank=True)
    channel = models.CharField("支付方式", max_length=30)
    invoice_type = models.CharField("发票类型", max_length=30, blank=True)
    invoice_title = models.JSONField("发票抬头", default=dict, blank=True)
    receipt_email = models.EmailField("回执邮箱", blank=True)
    expires_at = models.DateTimeField("支付截止", null=True, blank=True)
    # Set when something needs a person: money after a cancel, an amount mismatch.
    needs_attention = models.CharField(max_length=60, blank=True)
    rules_version = models.PositiveIntegerField("规则版本")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    # When the paid receipt was e-mailed to receipt_email: set once, so a retried task never sends twice.
    receipt_sent_at = models.DateTimeField("回执发送时间", null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = "订单"
        verbose_name_plural = "订单"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_fen__gte=0), name="billing_order_total_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(payer_company__isnull=False) | models.Q(payer_person__isnull=False),
                name="billing_order_has_payer",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="billing_order_status_expiry")]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    # What is paid for, e.g. "application:123"; live while its order is open or paid, so nothing is paid twice.
    key = models.CharField(max_length=60)
    application = models.ForeignKey(
        "registration.Application",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_items",
    )
    membership_fee = models.ForeignKey(
        "membership.MembershipFee",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_items",
    )
    label = models.CharField(max_length=200)
    amount_fen = models.BigIntegerField()
    live = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(live=True), name="billing_item_paid_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_fen__gte=0), name="billing_item_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class PaymentStatus(models.TextChoices):
    CREATED = "created", "待支付"
    PENDING = "pending", "待财务确认"
    CONFIRMED = "confirmed", "已确认"
    FAILED = "failed", "失败"
    EXPIRED = "expired", "已关闭"


PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.CREATED: frozenset(
        {PaymentStatus.PENDING, PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.EXPIRED}
    ),
    PaymentStatus.PENDING: frozenset({PaymentStatus.CONFIRMED, PaymentStatus.FAILED}),
    # A confirmation after an expiry is still money received (flagged on the order for a refund).
    PaymentStatus.EXPIRED: frozenset({PaymentStatus.CONFIRMED}),
    PaymentStatus.FAILED: frozenset({PaymentStatus.CONFIRMED}),
    PaymentStatus.CONFIRMED: frozenset(),
}


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    channel = models.CharField(max_length=30)
    out_trade_no = models.CharField(max_length=32, unique=True)
    amount_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="CNY")
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    provider_txn_id = models.CharField(max_length=64, blank=True)
    action = models.JSONField(default=dict, blank=True)  # the QR content / redirect URL / JSAPI params shown
    proof = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received_fen = models.BigIntegerField(null=True, blank=True)  # finance: what actually arrived
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "支付"
        verbose_name_plural = "支付"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_txn_id"],
                condition=~models.Q(provider_txn_id=""),
                name="billing_payment_txn_unique",
            )
        ]

    def __str__(self) -> str:
        return self.out_trade_no


class NotifyEvent(models.Model):
    """The inbox: every verified gateway notification, stored once (unique per channel and event key)."""

    channel = models.CharField(max_length=30)
    event_key = models.CharField(max_length=128)
    payload = models.TextField()
    outcome = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "event_key"], name="billing_notify_once")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.event_key}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "退款审核中"
    APPROVED = "approved", "退款处理中"
    REFUNDED = "refunded", "已退款"
    FAILED = "failed", "退款失败"
    REJECTED = "rejected", "退款被拒绝"


REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.REQUESTED: frozenset({RefundStatus.APPROVED, RefundStatus.REJECTED}),
    RefundStatus.APPROVED: frozenset({RefundStatus.REFUNDED, RefundStatus.FAILED}),
    RefundStatus.FAILED: frozenset({RefundStatus.APPROVED}),  # retried with the same out_refund_no
    RefundStatus.REFUNDED: frozenset(),
    RefundStatus.REJECTED: frozenset(),
}


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=32, unique=True)
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.CharField(max_length=200, blank=True)
    provider_refund_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_fen__gt=0), name="billing_refund_positive")
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class InvoiceStatus(models.TextChoices):
    REQUESTED = "requested", "待开票"
    ISSUED = "issued", "已开票"
    RED_FLUSHED = "red_flushed", "已红冲"


INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    InvoiceStatus.REQUESTED: frozenset({InvoiceStatus.ISSUED}),
    InvoiceStatus.ISSUED: frozenset({InvoiceStatus.RED_FLUSHED}),
    InvoiceStatus.RED_FLUSHED: frozenset(),
}


class Invoice(models.Model):
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    invoice_type = models.CharField(max_length=30)
    title = models.JSONField(default=dict)  # 抬头, 税号, address/phone, bank/account at request time
    amount_fen = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.REQUESTED)
    number = models.CharField("发票号码", max_length=40, blank=True)
    code = models.CharField("发票代码", max_length=20, blank=True)  # 数电 invoices have none
    issued_on = models.DateField(null=True, blank=True)
    # Set when an e-invoice platform issued it (billing.einvoice); a red flush then goes through the platform.
    platform_serial = models.CharField("开票平台流水号", max_length=64, blank=True)
    # The platform's serial of the red invoice, set once the platform red-flushed it (the task's done mark).
    red_flush_serial = models.CharField("红冲平台流水号", max_length=64, blank=True)
    pdf = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    receipt_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.number or f"invoice for {self.order_id}"


class LedgerEntry(models.Model):
    """Double-entry style lines: charges when an order is created, payments and refunds as they happen.
    For every order, charges − payments + refunds − cancellations is what is still owed."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=20)  # charge / payment / refund / cancel
    amount_fen = (
        models.BigIntegerField()
    )  # signed: charges and refunds positive, payments and cancels negative
    channel = models.CharField(max_length=30, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_fen}"


class MerchantAccount(models.Model):
    """A tenant's merchant credentials for one channel, encrypted at rest (billing.merchant_settings)."""

    channel = models.CharField(max_length=30, unique=True)
    settings_encrypted = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.channel

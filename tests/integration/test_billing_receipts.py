"""The receipt e-mail of a paid order: scheduled after commit by the paying transition, sent by a Celery task,
exactly once however often the payment result arrives or the task runs, in the association's own name (the
look-alike tenant's payer gets its association's receipt, never sichuan's)."""

from dataclasses import replace
from unittest import mock

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import Order
from billing.providers.base import PaymentResult
from billing.receipts import order_receipt_send
from billing.services import orders_create, payment_apply_result, payment_create
from billing.tasks import order_receipt_send_task
from shared.models import AuditEntry
from tests.integration.test_billing_orders import RULES, _approved, _company, _request

pytestmark = pytest.mark.django_db
FEE = 80000


@pytest.fixture
def eager_tasks():
    from shared.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _order(schema: str, *, receipt_email: str = "caiwu@example.com", serial: int = 0) -> Order:
    with schema_context(schema):
        _, operator, persons = _company("成都监理", 1, serial=serial)
        applications = _approved(operator, persons, with_materials=False)
        request = replace(_request(applications, channel="wechat_native"), receipt_email=receipt_email)
        [order] = orders_create(rules=RULES, rules_version=1, actor=operator, request=request)
        payment = payment_create(order_id=order.pk, actor=operator, channel="wechat_native")
        order.payment = payment
        return order


def _pay(schema: str, order: Order, txn: str) -> str:
    with schema_context(schema):
        return payment_apply_result(
            channel="wechat_native",
            result=PaymentResult(order.payment.out_trade_no, "success", FEE, "CNY", txn),
            source="test",
        )


@override_settings(DEFAULT_FROM_EMAIL="noreply@xiehui.example.cn")
def test_a_paid_order_sends_one_chinese_receipt_even_when_the_result_arrives_twice(
    tenant_a, tenant_b, eager_tasks, django_capture_on_commit_callbacks
):
    order = _order("sichuan")

    # The callbacks run as the transaction commits, on the tenant's connection (as after a notify request).
    with schema_context("sichuan"), django_capture_on_commit_callbacks(execute=True) as first:
        outcome = _pay("sichuan", order, "4200000000202606010000000001")
    with schema_context("sichuan"), django_capture_on_commit_callbacks(execute=True) as second:
        again = _pay("sichuan", order, "4200000000202606010000000001")
    with schema_context("sichuan"):
        rerun = order_receipt_send_task.delay(order.pk).get()

    assert (outcome, again, rerun) == ("confirmed", "duplicate", "already_sent")
    assert (len(first), len(second)) == (1, 0)
    [receipt] = mail.outbox
    with schema_context("sichuan"):
        order.refresh_from_db()
        assert order.receipt_sent_at is not None
        assert AuditEntry.objects.filter(action="order.receipt_sent", object_id=str(order.pk)).count() == 1
    paid_at = timezone.localtime(order.paid_at).strftime("%Y-%m-%d %H:%M:%S")
    assert receipt.to == ["caiwu@example.com"]
    assert receipt.from_email == "四川省建设工程质量安全与监理协会 <noreply@xiehui.example.cn>"
    assert receipt.subject == (
        f"【四川省建设工程质量安全与监理协会】缴费回执：订单 {order.number} 已支付 800.00 元"
    )
    for line in (
        f"订单号：{order.number}",
        "支付方式：微信扫码支付",
        f"支付时间：{paid_at}",
        "成都监理0 · 2022年四川省工程监理人员职业培训    800.00 元",
        "合计：800.00 元（人民币）",
    ):
        assert line in receipt.body
    assert "另一监理协会" not in receipt.body


def test_the_look_alike_tenants_payer_gets_its_own_associations_receipt(
    tenant_a, tenant_b, eager_tasks, django_capture_on_commit_callbacks
):
    ours = _order("sichuan", receipt_email="a@example.com")
    theirs = _order("sichuanb", receipt_email="b@example.com")

    with schema_context("sichuanb"), django_capture_on_commit_callbacks(execute=True):
        _pay("sichuanb", theirs, "4200000000202606010000000009")

    [receipt] = mail.outbox
    assert receipt.to == ["b@example.com"] and theirs.number in receipt.subject
    assert (
        "【四川省另一监理协会】" in receipt.subject and "四川省建设工程质量安全与监理协会" not in receipt.body
    )
    with schema_context("sichuan"):
        assert Order.objects.get(pk=ours.pk).receipt_sent_at is None
    with schema_context("sichuanb"):
        assert Order.objects.get(pk=theirs.pk).receipt_sent_at is not None


def test_an_order_without_a_receipt_email_schedules_no_mail(
    tenant_a, eager_tasks, django_capture_on_commit_callbacks
):
    order = _order("sichuan", receipt_email="")

    with schema_context("sichuan"), django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert _pay("sichuan", order, "4200000000202606010000000002") == "confirmed"

    assert (len(callbacks), mail.outbox) == (0, [])


def test_an_unpaid_order_gets_no_receipt_and_a_failing_mail_server_records_nothing(tenant_a):
    order = _order("sichuan")
    with schema_context("sichuan"):
        assert order_receipt_send(order_id=order.pk) == "not_paid"
    _pay("sichuan", order, "4200000000202606010000000003")  # no on_commit here: the task never ran

    with (
        schema_context("sichuan"),
        mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("connection refused")),
        pytest.raises(OSError),
    ):
        order_receipt_send(order_id=order.pk)

    with schema_context("sichuan"):
        assert Order.objects.get(pk=order.pk).receipt_sent_at is None
        assert not AuditEntry.objects.filter(action="order.receipt_sent").exists()
        assert order_receipt_send(order_id=order.pk) == "sent"
    assert len(mail.outbox) == 1

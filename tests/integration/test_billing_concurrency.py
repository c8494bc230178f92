"""The one idempotent payment transition under concurrency: real PostgreSQL, committed data, one connection
per thread (so this module has no per-test transaction)."""

import threading

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from billing.models import LedgerEntry, NotifyEvent, Order, OrderItem, Payment
from billing.providers.base import ParsedNotify, PaymentResult
from billing.services import notify_handle, orders_create, payment_apply_result, payment_create
from registration.models import Application
from shared.accounts.models import PersonProfile, User
from tests.integration.test_billing_orders import RULES, _approved, _company, _request

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------------------
# the one idempotent transition under concurrency (committed data, one connection per thread)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def committed_order(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), schema_context("sichuan"):
        company, operator, persons = _company("并发监理", 2, serial=700)
        applications = _approved(operator, persons, with_materials=True)
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=operator,
            request=_request(applications, channel="wechat_native"),
        )
        payment = payment_create(order_id=order.pk, actor=operator, channel="wechat_native")
        yield order, payment, applications
        from shared.models import AuditEntry

        NotifyEvent.objects.all().delete()
        LedgerEntry.objects.filter(order=order).delete()
        Payment.objects.filter(order=order).delete()
        OrderItem.objects.filter(order=order).delete()
        from billing.models import Invoice

        Invoice.objects.filter(order=order).delete()
        order.delete()
        Application.objects.filter(pk__in=[a.pk for a in applications]).delete()
        AuditEntry.objects.filter(object_type__in=["billing.order", "billing.payment"]).delete()
        PersonProfile.objects.filter(company=company).delete()
        User.objects.filter(pk__in=[p.pk for p in persons]).delete()
        operator.delete()
        company.delete()


def test_the_same_notify_delivered_ten_times_at_once_confirms_once(committed_order):
    order, payment, applications = committed_order
    parsed = ParsedNotify(
        event_key="wx-4200000001",
        payload="<xml>…</xml>",
        result=PaymentResult(
            out_trade_no=payment.out_trade_no,
            status="success",
            amount_fen=order.total_fen,
            provider_txn_id="4200000001",
        ),
    )
    barrier = threading.Barrier(10)
    outcomes = []

    def deliver():
        try:
            with schema_context("sichuan"):
                barrier.wait()
                outcomes.append(notify_handle(channel="wechat_native", parsed=parsed))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["confirmed"] + ["duplicate"] * 9
    with schema_context("sichuan"):
        assert NotifyEvent.objects.count() == 1
        assert LedgerEntry.objects.filter(order=order, kind="payment").count() == 1
        assert Order.objects.get(pk=order.pk).status == "paid"
        assert set(
            Application.objects.filter(pk__in=[a.pk for a in applications]).values_list("status", flat=True)
        ) == {"paid"}
        from registration.models import ApplicationEvent

        assert ApplicationEvent.objects.filter(application__in=applications, action="pay").count() == 2


def test_results_racing_from_notify_and_reconciliation_confirm_once(committed_order):
    """Different event keys (a notify and the reconciler at once): only the row lock serialises them."""
    order, payment, _ = committed_order
    barrier = threading.Barrier(8)
    outcomes = []

    def apply(number):
        try:
            with schema_context("sichuan"):
                barrier.wait()
                outcomes.append(
                    payment_apply_result(
                        channel="wechat_native",
                        result=PaymentResult(
                            payment.out_trade_no, "success", order.total_fen, "CNY", "4200000001"
                        ),
                        source=f"race-{number}",
                    )
                )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["confirmed"] + ["duplicate"] * 7
    with schema_context("sichuan"):
        assert LedgerEntry.objects.filter(order=order, kind="payment").count() == 1

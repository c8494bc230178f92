"""申请退款 on the order page: in miniapp (refunds enabled: paid, not attended) the student asks with a reason
from the rules and sees 退款审核中, later 已退款 or 退款失败; another student's order is a 404, an empty reason or a
second request changes nothing. In sichuan refunds are disabled: the company cannot ask, and the look-alike
tenant's host does not know miniapp's or sichuan's orders."""

import pytest
from django_tenants.utils import schema_context

from billing.models import Order, Refund
from billing.providers.base import PaymentResult, RefundResult
from billing.services import (
    orders_create,
    payment_apply_result,
    payment_create,
    refund_apply_result,
    refund_decide,
)
from registration.models import Program, TrainingSession
from shared.models import AuditEntry
from tenant_configs.selectors import rules_current
from tests.conftest import host_client
from tests.factories import StaffFactory
from tests.integration.test_billing_api import _approved as approved_application
from tests.integration.test_billing_api import _student
from tests.integration.test_billing_orders import RULES, _approved, _company, _request

pytestmark = pytest.mark.django_db
HOST = "miniapp.localhost"
FEE = 98000
REASON = "工作安排冲突，无法参加培训"


def _login(user, host: str = HOST):
    client = host_client(host)
    with schema_context(host.split(".")[0]):
        client.force_login(user)
    return client


def _paid_order(student, session) -> Order:
    application = approved_application(student, session)
    [order] = orders_create(
        rules=rules_current(),
        rules_version=1,
        actor=student,
        request=_request([application], channel="wechat_jsapi", pledges={}),
    )
    payment = payment_create(order_id=order.pk, actor=student, channel="wechat_jsapi")
    result = PaymentResult(payment.out_trade_no, "success", FEE, "CNY", f"42000{payment.pk:08d}")
    assert payment_apply_result(channel="wechat_jsapi", result=result, source="test") == "confirmed"
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def miniapp(db):
    with schema_context("miniapp"):
        program = Program.objects.create(code="jianli_yewu", name="监理业务培训")
        session = TrainingSession.objects.create(program=program, code="2026-1", name="第一期", fee_fen=FEE)
        student, _ = _student("401")
        other, _ = _student("402")
        return {
            "student": student,
            "order": _paid_order(student, session),
            "other": other,
            "other_order": _paid_order(other, session),
        }


def _refunds(schema: str = "miniapp") -> list[tuple]:
    with schema_context(schema):
        return list(
            Refund.objects.order_by("pk").values_list("payment__order_id", "status", "reason", "amount_fen")
        )


def test_the_paid_student_asks_for_a_refund_and_the_order_page_shows_its_state(miniapp, tenant_b):
    client = _login(miniapp["student"])
    order = miniapp["order"]

    detail_before = client.get(f"/billing/orders/{order.pk}/").content.decode()
    form = client.get(f"/billing/orders/{order.pk}/refund/")
    response = client.post(
        f"/billing/orders/{order.pk}/refund/", {"reason": REASON, "note": "  单位 临时 派驻外地 "}
    )

    assert f'href="/billing/orders/{order.pk}/refund/"' in detail_before and "申请退款" in detail_before
    assert form.status_code == 200 and form.content.decode().count('name="reason"') == 4
    assert (response.status_code, response["Location"]) == (302, f"/billing/orders/{order.pk}/")
    assert _refunds() == [(order.pk, "requested", f"{REASON}：单位 临时 派驻外地", FEE)]
    page = client.get(f"/billing/orders/{order.pk}/").content.decode()
    assert '<strong id="refund-status">退款审核中</strong>' in page and 'id="refund-link"' not in page
    assert "退款申请已提交" in page
    with schema_context("miniapp"):
        assert AuditEntry.objects.filter(action="refund.request").count() == 1
    with schema_context("sichuanb"):
        assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("outcome", "label"), [("success", "已退款"), ("failed", "退款失败")], ids=["refunded", "failed"]
)
def test_the_order_page_shows_refunded_or_failed(miniapp, outcome, label):
    client = _login(miniapp["student"])
    order = miniapp["order"]
    client.post(f"/billing/orders/{order.pk}/refund/", {"reason": REASON})
    with schema_context("miniapp"):
        refund = Refund.objects.get()
        finance = StaffFactory(username="caiwu-a", staff_roles=["finance"])
        refund_decide(refund_id=refund.pk, actor=finance, approve=True)
        refund_apply_result(
            result=RefundResult(refund.out_refund_no, outcome, FEE, message="原路退回失败：用户账户已注销"),
            source="test",
        )

    page = client.get(f"/billing/orders/{order.pk}/").content.decode()

    assert f'<strong id="refund-status">{label}</strong>' in page
    # After a failure the payer may ask again; a refunded order offers nothing more.
    assert ('id="refund-link"' in page) == (outcome == "failed")
    assert ("用户账户已注销" in page) == (outcome == "failed")


def test_another_students_order_is_not_found_and_nothing_is_requested(miniapp):
    client = _login(miniapp["student"])
    theirs = miniapp["other_order"]

    read = client.get(f"/billing/orders/{theirs.pk}/refund/")
    ask = client.post(f"/billing/orders/{theirs.pk}/refund/", {"reason": REASON})

    assert (read.status_code, ask.status_code) == (404, 404)
    assert _refunds() == []


def test_an_empty_reason_is_refused_and_nothing_is_requested(miniapp):
    client = _login(miniapp["student"])
    order = miniapp["order"]

    empty = client.post(f"/billing/orders/{order.pk}/refund/", {"reason": "", "note": "   "})
    invented = client.post(f"/billing/orders/{order.pk}/refund/", {"reason": "", "note": "不想学了"})

    assert empty.status_code == 400 and "请选择或填写退款原因" in empty.content.decode()
    assert invented.status_code == 400 and "请选择退款原因：" in invented.content.decode()
    assert _refunds() == []


def test_asking_twice_keeps_one_refund(miniapp):
    client = _login(miniapp["student"])
    order = miniapp["order"]

    first = client.post(f"/billing/orders/{order.pk}/refund/", {"reason": REASON})
    second = client.post(f"/billing/orders/{order.pk}/refund/", {"reason": "重复报名"})

    assert first.status_code == 302
    assert second.status_code == 400 and "该订单已申请过退款，请勿重复提交" in second.content.decode()
    assert _refunds() == [(order.pk, "requested", REASON, FEE)]


def test_where_the_rules_disable_refunds_the_company_cannot_ask_and_the_look_alike_knows_no_order(
    tenant_a, tenant_b
):
    with schema_context("sichuan"):
        _, operator, persons = _company("成都监理", 1)
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=operator,
            request=_request(_approved(operator, persons, with_materials=False), channel="wechat_native"),
        )
        payment = payment_create(order_id=order.pk, actor=operator, channel="wechat_native")
        payment_apply_result(
            channel="wechat_native",
            result=PaymentResult(payment.out_trade_no, "success", order.total_fen, "CNY", "4200000001"),
            source="test",
        )
    with schema_context("sichuanb"):
        _, twin_operator, _ = _company("成都监理", 0)
    client = _login(operator, "sichuan.localhost")

    detail = client.get(f"/billing/orders/{order.pk}/").content.decode()
    form = client.get(f"/billing/orders/{order.pk}/refund/")
    ask = client.post(f"/billing/orders/{order.pk}/refund/", {"reason": "", "note": "已缴费未参加培训"})
    elsewhere = _login(twin_operator, "sichuanb.localhost").post(
        f"/billing/orders/{order.pk}/refund/", {"note": "已缴费未参加培训"}
    )

    assert 'id="refund-link"' not in detail and 'id="refund"' not in detail
    assert form.status_code == 200 and 'id="refunds-disabled"' in form.content.decode()
    assert ask.status_code == 403 and "本协会不受理在线退款申请" in ask.content.decode()
    assert elsewhere.status_code == 404
    assert _refunds("sichuan") == [] and _refunds("sichuanb") == []

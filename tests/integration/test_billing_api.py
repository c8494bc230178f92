"""The billing API as the mini-program uses it (miniapp: the student pays their own application with WeChat
JSAPI, refunds need approval): my orders, create with Idempotency-Key, cancel, refund request. Other people's
orders answer like ones that do not exist; a token of another association is unknown here."""

import pytest
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from billing.models import Order, Payment, Refund
from billing.providers.base import PaymentResult
from billing.services import payment_apply_result, payment_create
from registration.models import Application, Program, TrainingSession
from shared.accounts.models import PersonProfile, User, UserKind
from tests.conftest import host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db
HOST = "miniapp.localhost"


def _student(serial: str):
    user = User.objects.create_user(f"stu{serial}", None, kind=UserKind.PERSON, name=f"学员{serial}")
    user.id_number = valid_id_number("620102", "19920202", serial)
    user.save()
    PersonProfile.objects.create(user=user, name=f"学员{serial}", id_number=user.id_number)
    return user, Token.objects.create(user=user).key


def _approved(person, session) -> Application:
    """An application the association approved (how it got there is registration's business)."""
    return Application.objects.create(
        session=session,
        program=session.program,
        enrolment_key=f"{session.program.code}:{session.code}",
        person=person,
        channel="self",
        status="approved",
        holds_seat=True,
        fee_fen=98000,
        rules_version=1,
        review_chain=["association"],
    )


@pytest.fixture
def miniapp(db):
    with schema_context("miniapp"):
        program = Program.objects.create(code="jianli_yewu", name="监理业务培训")
        session = TrainingSession.objects.create(program=program, code="2026-1", name="第一期", fee_fen=98000)
        student, token = _student("301")
        other, other_token = _student("302")
        return {
            "session": session,
            "token": token,
            "application": _approved(student, session),
            "other_application": _approved(other, session),
            "other_token": other_token,
            "student": student,
        }


def _post(path: str, token: str, body: dict | None = None, key: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return host_client(HOST).post(path, body or {}, content_type="application/json", **headers)


def _create(token: str, application_ids: list[int], key: str = "order-1"):
    return _post(
        "/api/v1/orders/", token, {"application_ids": application_ids, "channel": "wechat_jsapi"}, key
    )


def test_the_student_orders_their_approved_application_once_even_when_retried(miniapp):
    first = _create(miniapp["token"], [miniapp["application"].pk])
    replay = _create(miniapp["token"], [miniapp["application"].pk])

    assert first.status_code == 201, first.content
    assert replay.json() == first.json()
    [order] = first.json()
    assert (order["total_fen"], order["status_label"], order["channel"]) == (98000, "待支付", "wechat_jsapi")
    listed = host_client(HOST).get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {miniapp['token']}").json()
    assert [row["number"] for row in listed] == [order["number"]]
    with schema_context("miniapp"):
        assert Order.objects.count() == 1


def test_nobody_orders_or_reads_another_persons_application_or_order(miniapp, tenant_a):
    foreign = _create(miniapp["token"], [miniapp["other_application"].pk], key="foreign")
    theirs = _create(miniapp["other_token"], [miniapp["other_application"].pk], key="theirs").json()[0]

    read = host_client(HOST).get(
        f"/api/v1/orders/{theirs['id']}/", HTTP_AUTHORIZATION=f"Token {miniapp['token']}"
    )
    cancel = _post(f"/api/v1/orders/{theirs['id']}/cancel/", miniapp["token"])
    elsewhere = host_client("sichuan.localhost").get(
        "/api/v1/orders/", HTTP_AUTHORIZATION=f"Token {miniapp['token']}"
    )

    assert (foreign.status_code, foreign.json()["code"]) == (422, "not_payable")
    assert (read.status_code, cancel.status_code, elsewhere.status_code) == (404, 404, 401)
    with schema_context("miniapp"):
        assert Order.objects.get(pk=theirs["id"]).status == "open"


def test_an_order_needs_an_idempotency_key(miniapp):
    response = _post(
        "/api/v1/orders/",
        miniapp["token"],
        {"application_ids": [miniapp["application"].pk], "channel": "wechat_jsapi"},
    )

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")


def _paid(miniapp) -> Order:
    [order] = _create(miniapp["token"], [miniapp["application"].pk]).json()
    with schema_context("miniapp"):
        payment = payment_create(order_id=order["id"], actor=miniapp["student"], channel="wechat_jsapi")
        assert (
            payment_apply_result(
                channel="wechat_jsapi",
                result=PaymentResult(payment.out_trade_no, "success", 98000, "CNY", "4200009"),
                source="test",
            )
            == "confirmed"
        )
        return Order.objects.get(pk=order["id"])


def test_a_paid_student_who_did_not_attend_asks_for_a_refund(miniapp):
    order = _paid(miniapp)

    response = _post(
        f"/api/v1/orders/{order.pk}/refund/", miniapp["token"], {"reason": "工作安排冲突，无法参加培训"}
    )

    assert response.status_code == 201, response.content
    assert (response.json()["status_label"], response.json()["amount_fen"]) == ("退款审核中", 98000)
    with schema_context("miniapp"):
        assert Refund.objects.get().payment == Payment.objects.get(order=order)


@pytest.mark.parametrize(
    ("reason", "completed", "expected"),
    [
        ("随便写的理由", False, (422, "reason_invalid")),
        ("个人原因无法参加培训", True, (409, "not_refundable")),
    ],
)
def test_refunds_outside_the_rules_are_refused_and_nothing_is_requested(miniapp, reason, completed, expected):
    order = _paid(miniapp)
    if completed:
        with schema_context("miniapp"):
            Application.objects.filter(pk=miniapp["application"].pk).update(status="completed")

    response = _post(f"/api/v1/orders/{order.pk}/refund/", miniapp["token"], {"reason": reason})

    assert (response.status_code, response.json()["code"]) == expected
    with schema_context("miniapp"):
        assert not Refund.objects.exists()


def test_cancelling_an_open_order_frees_the_application_for_a_new_one(miniapp):
    [order] = _create(miniapp["token"], [miniapp["application"].pk]).json()

    cancelled = _post(f"/api/v1/orders/{order['id']}/cancel/", miniapp["token"])
    again = _create(miniapp["token"], [miniapp["application"].pk], key="order-2")

    assert cancelled.json()["status_label"] == "已取消"
    assert again.status_code == 201


@pytest.fixture
def eager_tasks():
    from shared.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_an_approved_refund_goes_to_the_gateway_after_commit_and_ends_refunded(
    miniapp, eager_tasks, django_capture_on_commit_callbacks
):
    """miniapp has no merchant keys in tests, so WeChat JSAPI is served by the gateway simulator."""
    from billing.services import refund_decide
    from tests.factories import StaffFactory

    order = _paid(miniapp)
    requested = _post(
        f"/api/v1/orders/{order.pk}/refund/", miniapp["token"], {"reason": "个人原因无法参加培训"}
    )
    with schema_context("miniapp"):
        finance = StaffFactory(username="caiwu-a", staff_roles=["finance"])
        refund = Refund.objects.get(pk=requested.json()["id"])
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            refund_decide(refund_id=refund.pk, actor=finance, approve=True)

        refund.refresh_from_db()
        assert len(callbacks) == 1
        assert (refund.status, refund.provider_refund_id) == ("refunded", f"SIMREFUND{refund.out_refund_no}")
        assert sum(order.ledger.values_list("amount_fen", flat=True)) == 98000  # charged, paid, refunded


def test_the_student_pays_with_wechat_jsapi_and_the_order_and_application_are_paid(miniapp):
    """Through the simulator (no merchant keys here): signed wx.requestPayment parameters, then the
    simulator's 'pay' sends WeChat's signed notify through the real notify path."""
    [order] = _create(miniapp["token"], [miniapp["application"].pk]).json()

    started = _post(f"/api/v1/orders/{order['id']}/pay/", miniapp["token"], {"channel": "wechat_jsapi"})

    assert started.status_code == 200, started.content
    params = started.json()["jsapi_params"]
    assert started.json()["kind"] == "jsapi"
    assert params["package"] == f"prepay_id=simprepay{started.json()['out_trade_no']}" and params["paySign"]
    paid = host_client(HOST).post(f"/pay/simulator/{started.json()['out_trade_no']}/", {"outcome": "pay"})
    assert paid.status_code == 302
    with schema_context("miniapp"):
        assert Order.objects.get(pk=order["id"]).status == "paid"
        assert Application.objects.get(pk=miniapp["application"].pk).status == "paid"
    mine = (
        host_client(HOST).get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Token {miniapp['token']}").json()
    )
    rows = mine["results"] if isinstance(mine, dict) else mine
    assert [row["status_label"] for row in rows] == ["已支付"]


def test_a_channel_the_rules_do_not_offer_is_refused(miniapp):
    [order] = _create(miniapp["token"], [miniapp["application"].pk]).json()

    response = _post(f"/api/v1/orders/{order['id']}/pay/", miniapp["token"], {"channel": "alipay_qr"})

    assert (response.status_code, response.json()["code"]) == (422, "channel_not_offered")
    with schema_context("miniapp"):
        assert not Payment.objects.exists()

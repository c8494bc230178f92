"""Billing core on real PostgreSQL: a company's selection becomes the orders the rules' split proposes,
offline transfers are confirmed by finance with the amount received, one idempotent transition applies every
payment result (also when delivered many times at once), unpaid orders expire, refunds need a second person.
Every refusal changes nothing; the look-alike tenant sees none of it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import LedgerEntry, Order, OrderItem, Payment, Refund
from billing.providers.base import RefundResult
from billing.services import (
    BillingError,
    OrderRequest,
    luhn_digit,
    order_cancel,
    orders_create,
    orders_expire,
    payment_create,
    payment_finance_decide,
    payment_proof_attach,
    reference_valid,
    refund_decide,
    refund_execute,
    refund_request,
)
from registration import rules as engine
from registration.models import Application, Program, TrainingSession
from registration.services import application_enrol_bulk
from shared.accounts.models import Company, PersonProfile, User, UserKind
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tests.conftest import CONFIGS
from tests.factories import StaffFactory, UserFactory
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db
PLEDGES = {"training_agreement": "1", "company_pledge": "1"}


def _rules():
    """sichuan's billing rules with one company-enrolled program, auto-approved (no review, no documents)."""
    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    program = next(item for item in data["programs"] if item["code"] == "jianli_2022")
    program.update(
        code="pay",
        channel="both",
        review_chain=[],
        company_may_edit=False,
        requires_real_name=False,
        fields=[],
        documents=[],
    )
    program["pledges"] = [pledge for pledge in program["pledges"] if pledge["stage"] == "payment"]
    data["programs"] = [program]
    for kind in data["certificates"].get("kinds", []):
        kind.pop("programs", None)
    data["identity"]["real_name_verification"] = "none"
    return load_rules_data(data, source="billing test")


RULES = _rules()


def _company(name: str, people: int, serial: int = 0):
    company = Company.objects.create(name=name)
    operator = UserFactory(username=f"op-{name}", kind=UserKind.COMPANY, company=company)
    persons = []
    for number in range(people):
        user = UserFactory(username=f"{name}-{number}", kind=UserKind.PERSON)
        user.id_number = valid_id_number("510104", "19900101", f"{serial + number:03d}")
        user.save()
        PersonProfile.objects.create(
            user=user, name=f"{name}{number}", id_number=user.id_number, company=company
        )
        persons.append(user)
    return company, operator, persons


def _approved(
    operator, persons, *, with_materials: bool, rules=None, program_code: str = "pay"
) -> list[Application]:
    """Approved applications of `persons`, enrolled by their company under `rules` (default RULES: no
    review) into one session of `program_code` priced 800 元 + 120 元 materials."""
    program, _ = Program.objects.get_or_create(
        code=program_code, defaults={"name": "2022年四川省工程监理人员职业培训"}
    )
    session, _ = TrainingSession.objects.get_or_create(
        program=program,
        code="P1",
        defaults={
            "name": "一期",
            "fee_fen": 80000,
            "materials_fee_fen": 12000,
            "opens_at": timezone.now() - timedelta(days=1),
            "closes_at": timezone.now() + timedelta(days=5),
        },
    )
    results = application_enrol_bulk(
        rules=rules or RULES,
        rules_version=1,
        session_id=session.pk,
        person_ids=[person.pk for person in persons],
        actor=operator,
        submission=engine.Submission(
            answers={}, documents=frozenset(), pledges={}, with_materials=with_materials
        ),
    )
    assert all(result.application for result in results), results
    assert {result.application.status for result in results} == {"approved"}
    return [result.application for result in results]


def _request(applications, channel="offline_transfer", invoice_type=None, pledges=PLEDGES):
    return OrderRequest(
        application_ids=[application.pk for application in applications],
        channel=channel,
        invoice_type=invoice_type,
        invoice_title={"title": "成都监理有限公司", "tax_number": "91510100MA61234567"}
        if invoice_type
        else {},
        receipt_email="finance@example.com",
        pledges=pledges,
    )


@pytest.fixture
def fifteen(tenant_a):
    with schema_context("sichuan"):
        _, operator, persons = _company("成都监理", 15)
        with_materials = _approved(operator, persons[:12], with_materials=True)
        without = _approved(operator, persons[12:], with_materials=False)
    return {"operator": operator, "applications": with_materials + without}


def test_the_company_pays_for_fifteen_people_in_the_orders_the_cap_and_materials_rules_propose(fifteen):
    with schema_context("sichuan"):
        orders = orders_create(
            rules=RULES, rules_version=1, actor=fifteen["operator"], request=_request(fifteen["applications"])
        )

        assert [(order.total_fen, order.with_materials, order.items.count()) for order in orders] == [
            (920000, True, 10),
            (184000, True, 2),
            (240000, False, 3),
        ]
        assert all(reference_valid(order.reference, "SC") for order in orders)
        assert sum(entry.amount_fen for entry in LedgerEntry.objects.all()) == 920000 + 184000 + 240000
        assert all(order.expires_at is not None for order in orders)  # 24 h for transfers


def test_the_payment_pledges_must_be_accepted_and_a_refusal_writes_nothing(fifteen):
    with schema_context("sichuan"):
        with pytest.raises(BillingError) as refused:
            orders_create(
                rules=RULES,
                rules_version=1,
                actor=fifteen["operator"],
                request=_request(fifteen["applications"], pledges={"training_agreement": "1"}),
            )
        assert (refused.value.code, refused.value.message) == (
            "pledge_required",
            "请阅读并同意《企业承诺书》",
        )
        assert not Order.objects.exists() and not OrderItem.objects.exists()


def test_a_special_vat_invoice_is_only_for_offline_transfers(fifteen):
    with schema_context("sichuan"):
        with pytest.raises(BillingError) as refused:
            orders_create(
                rules=RULES,
                rules_version=1,
                actor=fifteen["operator"],
                request=_request(
                    fifteen["applications"], channel="wechat_native", invoice_type="special_vat"
                ),
            )
        assert refused.value.code == "invoice_type_not_allowed"
        orders = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"], invoice_type="special_vat"),
        )
        assert [order.invoice.invoice_type for order in orders] == ["special_vat"] * 3


def test_nobody_is_paid_for_twice_and_another_company_cannot_pay_our_people(fifteen, tenant_b):
    with schema_context("sichuan"):
        orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][:2]),
        )
        _, other_operator, _ = _company("别家监理", 0)

        with pytest.raises(BillingError) as twice:
            orders_create(
                rules=RULES,
                rules_version=1,
                actor=fifteen["operator"],
                request=_request(fifteen["applications"][1:3]),
            )
        with pytest.raises(BillingError) as foreign:
            orders_create(
                rules=RULES,
                rules_version=1,
                actor=other_operator,
                request=_request(fifteen["applications"][5:6]),
            )

        assert twice.value.code == "not_payable" or twice.value.code == "already_in_order"
        assert foreign.value.code == "not_payable"
        assert Order.objects.count() == 1
    with schema_context("sichuanb"):
        assert not Order.objects.exists()


def test_paid_applications_cannot_be_ordered_again(fifteen):
    with schema_context("sichuan"):
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][:1]),
        )
        order_cancel(order_id=order.pk, actor=fifteen["operator"], reason="重新选择")

        again = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][:1]),
        )

        assert len(again) == 1 and OrderItem.objects.filter(live=True).count() == 1


# ---------------------------------------------------------------------------------------------------------
# offline transfer: proof, finance, the amount actually received
# ---------------------------------------------------------------------------------------------------------


def _proof(operator):
    from shared.documents.services import document_upload
    from tenant_configs.schema import DocumentSpec
    from tests.unit.test_document_checks import photo_jpeg

    return document_upload(
        owner=operator,
        key="transfer_proof",
        spec=DocumentSpec(key="transfer_proof", label="转账凭证", formats=("jpg", "png", "pdf")),
        data=photo_jpeg(),
        filename="回单.jpg",
        review_required=False,
    )


def test_finance_confirms_a_transfer_and_the_people_are_paid(fifteen):
    with schema_context("sichuan"):
        finance = User.objects.get(username="finance")
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][12:]),
        )
        payment = payment_create(order_id=order.pk, actor=fifteen["operator"], channel="offline_transfer")
        payment_proof_attach(
            payment_id=payment.pk, actor=fifteen["operator"], document_id=_proof(fifteen["operator"]).pk
        )

        outcome = payment_finance_decide(
            payment_id=payment.pk, actor=finance, approve=True, received_fen=240000
        )

        order.refresh_from_db()
        assert (outcome, order.status) == ("confirmed", "paid")
        assert set(
            Application.objects.filter(pk__in=[a.pk for a in fifteen["applications"][12:]]).values_list(
                "status", flat=True
            )
        ) == {"paid"}
        assert sum(LedgerEntry.objects.filter(order=order).values_list("amount_fen", flat=True)) == 0


def test_a_short_transfer_is_flagged_not_confirmed(fifteen):
    with schema_context("sichuan"):
        finance = User.objects.get(username="finance")
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][12:]),
        )
        payment = payment_create(order_id=order.pk, actor=fifteen["operator"], channel="offline_transfer")
        payment_proof_attach(
            payment_id=payment.pk, actor=fifteen["operator"], document_id=_proof(fifteen["operator"]).pk
        )

        outcome = payment_finance_decide(
            payment_id=payment.pk, actor=finance, approve=True, received_fen=200000
        )

        order.refresh_from_db()
        assert (outcome, order.status, order.needs_attention) == (
            "amount_mismatch",
            "open",
            "amount_mismatch:200000CNY",
        )
        assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_only_finance_decides_and_a_rejection_needs_a_reason(fifteen):
    with schema_context("sichuan"):
        reviewer = StaffFactory(username="shenhe")
        finance = User.objects.get(username="finance")
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][12:]),
        )
        payment = payment_create(order_id=order.pk, actor=fifteen["operator"], channel="offline_transfer")
        payment_proof_attach(
            payment_id=payment.pk, actor=fifteen["operator"], document_id=_proof(fifteen["operator"]).pk
        )

        with pytest.raises(BillingError) as not_finance:
            payment_finance_decide(payment_id=payment.pk, actor=reviewer, approve=True, received_fen=240000)
        with pytest.raises(BillingError) as no_reason:
            payment_finance_decide(payment_id=payment.pk, actor=finance, approve=False, note=" ")

        assert (not_finance.value.code, no_reason.value.code) == ("forbidden", "reason_required")
        assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_unpaid_orders_expire_unless_a_proof_waits_for_finance(fifteen):
    with schema_context("sichuan"):
        first, second = (
            orders_create(
                rules=RULES, rules_version=1, actor=fifteen["operator"], request=_request([application])
            )[0]
            for application in fifteen["applications"][:2]
        )
        payment = payment_create(order_id=second.pk, actor=fifteen["operator"], channel="offline_transfer")
        payment_proof_attach(
            payment_id=payment.pk, actor=fifteen["operator"], document_id=_proof(fifteen["operator"]).pk
        )

        outcomes = orders_expire(provider_for=lambda channel: None, now=timezone.now() + timedelta(hours=25))

        assert outcomes == {first.number: "cancelled", second.number: "waiting_for_finance"}
        first.refresh_from_db()
        assert first.status == "cancelled" and not first.items.filter(live=True).exists()


# ---------------------------------------------------------------------------------------------------------
# refunds
# ---------------------------------------------------------------------------------------------------------


class _Gateway:
    """The gateway's answer to a refund call, as a provider would translate it."""

    def __init__(self, status: str):
        self.status = status
        self.calls = []

    def refund(self, *, out_trade_no, out_refund_no, amount_fen, total_fen, reason):
        self.calls.append((out_trade_no, out_refund_no, amount_fen, total_fen))
        return RefundResult(
            out_refund_no=out_refund_no, status=self.status, amount_fen=amount_fen, provider_refund_id="50300"
        )


def _paid_order(fifteen):
    finance = User.objects.get(username="finance")
    [order] = orders_create(
        rules=RULES,
        rules_version=1,
        actor=fifteen["operator"],
        request=_request(fifteen["applications"][12:13]),
    )
    payment = payment_create(order_id=order.pk, actor=fifteen["operator"], channel="offline_transfer")
    payment_proof_attach(
        payment_id=payment.pk, actor=fifteen["operator"], document_id=_proof(fifteen["operator"]).pk
    )
    payment_finance_decide(payment_id=payment.pk, actor=finance, approve=True, received_fen=order.total_fen)
    return order, Payment.objects.get(pk=payment.pk), finance


def test_a_refund_is_approved_by_someone_else_and_executed_once(fifteen):
    with schema_context("sichuan"):
        order, payment, finance = _paid_order(fifteen)
        second = StaffFactory(username="caiwu2", staff_roles=["finance"])
        refund = refund_request(
            payment_id=payment.pk, actor=finance, amount_fen=80000, reason="已缴费未参加培训"
        )

        with pytest.raises(BillingError) as same_person:
            refund_decide(refund_id=refund.pk, actor=finance, approve=True)
        refund_decide(refund_id=refund.pk, actor=second, approve=True)
        gateway = _Gateway("success")
        done = refund_execute(refund_id=refund.pk, provider=gateway)
        again = refund_execute(refund_id=refund.pk, provider=gateway)

        assert same_person.value.code == "same_person"
        assert (done.status, again.status, len(gateway.calls)) == ("refunded", "refunded", 1)
        assert sum(LedgerEntry.objects.filter(order=order).values_list("amount_fen", flat=True)) == 80000


def test_a_refund_larger_than_what_was_paid_is_refused(fifteen):
    with schema_context("sichuan"):
        order, payment, finance = _paid_order(fifteen)
        refund_request(payment_id=payment.pk, actor=finance, amount_fen=50000, reason="部分退款")

        with pytest.raises(BillingError) as refused:
            refund_request(
                payment_id=payment.pk, actor=finance, amount_fen=order.total_fen - 49999, reason="再退"
            )

        assert refused.value.code == "amount_exceeds_paid"
        assert Refund.objects.count() == 1


def test_a_refund_notify_for_a_refund_never_approved_changes_nothing(fifteen):
    from billing.services import refund_apply_result

    with schema_context("sichuan"):
        _, payment, finance = _paid_order(fifteen)
        refund = refund_request(payment_id=payment.pk, actor=finance, amount_fen=1000, reason="测试")

        outcome = refund_apply_result(
            result=RefundResult(refund.out_refund_no, "success", 1000), source="notify"
        )

        assert outcome == "not_approved" and Refund.objects.get(pk=refund.pk).status == "requested"


def test_payment_references_carry_a_check_digit():
    assert luhn_digit("7992739871") == "3"
    assert reference_valid("SC1234566", "SC") is (luhn_digit("123456") == "6")
    assert not reference_valid("SC1234560" if luhn_digit("123456") != "0" else "SC1234561", "SC")


def test_finance_sees_unmatched_notifies_and_flagged_orders_in_the_reconciliation_view(fifteen, tenant_b):
    from billing.providers.base import ParsedNotify, PaymentResult
    from billing.services import notify_handle, payment_apply_result
    from tests.conftest import staff_client

    with schema_context("sichuan"):
        [order] = orders_create(
            rules=RULES,
            rules_version=1,
            actor=fifteen["operator"],
            request=_request(fifteen["applications"][12:13]),
        )
        payment = payment_create(order_id=order.pk, actor=fifteen["operator"], channel="offline_transfer")
        payment_apply_result(
            channel="offline_transfer",
            result=PaymentResult(payment.out_trade_no, "success", 1, "CNY", "x"),
            source="test",
        )
        notify_handle(
            channel="wechat_native",
            parsed=ParsedNotify(
                event_key="wx-lost", payload="<xml/>", result=PaymentResult("NOSUCHTRADE", "success", 100)
            ),
        )

    page = (
        staff_client("sichuan.localhost", "finance").get("/billing/finance/reconciliation/").content.decode()
    )
    twin = (
        staff_client("sichuanb.localhost", "finance").get("/billing/finance/reconciliation/").content.decode()
    )

    assert order.number in page and "金额不符（网关报告 1CNY）" in page
    assert "wx-lost" in page and "找不到对应的支付" in page
    assert order.number not in twin and "wx-lost" not in twin

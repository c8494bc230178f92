"""Association membership (gansu, DESIGN §4): apply → recommend → e-confirm → approve → pay → active →
expiry → renewal, and every refusal the issue lists, each asserting nothing changed. A look-alike tenant
(sichuanb) switches membership on by its rules alone."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import Order, OrderItem
from billing.services import BillingError, OrderRequest, orders_create, payment_create, payment_finance_decide
from certificates.models import Certificate
from membership import selectors
from membership.models import (
    ExpiryReminder,
    FeeStatus,
    Membership,
    MembershipEvent,
    MembershipFee,
    MembershipStatus,
    RecommendationBatch,
)
from membership.services import (
    MembershipError,
    PhotoUpload,
    add_years,
    batch_content_sha256,
    membership_apply,
    membership_period,
    membership_reminders_send,
    membership_roll_back,
    membership_staff_edit,
    memberships_decide,
    memberships_expire,
    memberships_recommend,
    recommendation_confirm,
)
from registration.services import applicant_facts
from shared.accounts.models import Company, PersonProfile, User, UserKind
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tenant_configs.selectors import rules_current
from tests.conftest import CONFIGS
from tests.factories import StaffFactory, UserFactory
from tests.ids import valid_id_number
from tests.unit.test_document_checks import photo_jpeg

ANSWERS = {
    "name": "王建国",
    "education": "本科",
    "professional_title": "工程师",
    "phone": "13912345678",
    "address": "兰州市城关区东岗西路 1 号",
    "qq": "123456",
}


def _company(name: str) -> tuple[Company, User]:
    company = Company.objects.create(name=name, uscc="")
    operator = UserFactory(
        username=f"op-{name}", kind=UserKind.COMPANY, company=company, name=f"{name}操作员"
    )
    return company, operator


def _person(
    username: str, company: Company | None, *, sequence: str = "123", birth: str = "19800101"
) -> User:
    user = UserFactory(username=username, kind=UserKind.PERSON)
    id_number = valid_id_number("620102", birth, sequence)
    PersonProfile.objects.create(user=user, name=f"{username}姓名", id_number=id_number, company=company)
    return user


def _apply(rules, person, **answers) -> Membership:
    return membership_apply(
        rules=rules,
        person=person,
        answers={**ANSWERS, **answers},
        photo=PhotoUpload(data=photo_jpeg(), filename="photo.jpg"),
    )


def _snapshot() -> tuple:
    return (
        sorted(Membership.objects.values_list("pk", "status", "batch_id", "reason")),
        MembershipFee.objects.count(),
        RecommendationBatch.objects.count(),
        MembershipEvent.objects.count(),
        Order.objects.count(),
    )


def _fee_orders(rules, payer, fees) -> list[Order]:
    """The payer asks to pay `fees` by offline transfer (gansu's one channel)."""
    return orders_create(
        rules=rules,
        rules_version=1,
        actor=payer,
        request=OrderRequest(
            application_ids=[],
            channel="offline_transfer",
            invoice_type=None,
            invoice_title={},
            receipt_email="",
            pledges={},
            membership_fee_ids=[fee.pk for fee in fees],
        ),
    )


def _pay(rules, operator, memberships, finance) -> Order:
    fees = [
        MembershipFee.objects.get(membership=membership, status=FeeStatus.DUE) for membership in memberships
    ]
    (order,) = _fee_orders(rules, operator, fees)
    payment = payment_create(
        order_id=order.pk, actor=operator, channel="offline_transfer", billing=rules.billing
    )
    payment_finance_decide(payment_id=payment.pk, actor=finance, approve=True, received_fen=order.total_fen)
    order.refresh_from_db()
    return order


@pytest.fixture
def gansu(tenant_gansu):
    with schema_context("gansu"):
        rules = rules_current()
        company, operator = _company("甘肃华成监理有限公司")
        other, other_operator = _company("甘肃另一监理有限公司")
        staff = StaffFactory(username="membership-reviewer", staff_roles=["reviewer"])
        finance = User.objects.get(username="finance")
        yield {
            "rules": rules,
            "company": company,
            "operator": operator,
            "other": other,
            "other_operator": other_operator,
            "staff": staff,
            "finance": finance,
        }


def test_the_gansu_lifecycle_from_application_to_renewal(gansu):
    rules, company, operator, staff = gansu["rules"], gansu["company"], gansu["operator"], gansu["staff"]
    person = _person("wangjg", company)

    membership = _apply(rules, person)
    assert membership.status == MembershipStatus.APPLIED
    assert membership.answers["gender"] == "男" and membership.answers["birth_date"] == "1980-01-01"
    assert not applicant_facts(rules=rules, person=person).is_member

    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.RECOMMENDED_NEW
    # The seed: people the company recommended take the association's trainings (free for members).
    assert applicant_facts(rules=rules, person=person).is_member

    batch = recommendation_confirm(rules=rules, company=company, actor=operator)
    assert [entry["name"] for entry in batch.entries] == ["王建国"]
    assert batch.content_sha256 == batch_content_sha256(
        company=company, number=batch.number, entries=batch.entries
    )
    assert bytes(batch.pdf).startswith(b"%PDF")
    assert batch.confirmed_by_name == "甘肃华成监理有限公司操作员"

    memberships_decide(rules=rules, actor=staff, membership_ids=[membership.pk], approve=True)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.APPROVED
    fee = MembershipFee.objects.get(membership=membership)
    assert (fee.years, fee.amount_fen, fee.status) == (5, 100000, FeeStatus.DUE)  # 200 元 × 5 年
    assert list(selectors.fees_payable(payer=operator)) == [fee]
    assert list(selectors.fees_payable(payer=gansu["other_operator"])) == []

    order = _pay(rules, operator, [membership], gansu["finance"])
    assert order.status == "paid" and order.total_fen == 100000
    membership.refresh_from_db()
    today = timezone.localdate()
    assert membership.status == MembershipStatus.ACTIVE
    assert (membership.starts_on, membership.ends_on) == membership_period(paid_on=today, years=5)
    assert membership.ends_on == add_years(today, 5) - timedelta(days=1)
    (certificate,) = Certificate.objects.filter(holder=person, kind="membership")
    assert (certificate.title, certificate.valid_until) == ("个人会员证", membership.ends_on)
    assert certificate.number.startswith(f"GSJL{today.year}")

    # Five years later the beat expires it, and the company recommends the renewal.
    later = timezone.now() + timedelta(days=5 * 366 + 1)
    assert memberships_expire(now=later) == 1
    assert memberships_expire(now=later) == 0  # idempotent
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.EXPIRED
    assert not applicant_facts(rules=rules, person=person).is_member

    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    membership.refresh_from_db()
    assert (membership.status, membership.renewal) == (MembershipStatus.RECOMMENDED_RENEWAL, True)
    recommendation_confirm(rules=rules, company=company, actor=operator)
    memberships_decide(rules=rules, actor=staff, membership_ids=[membership.pk], approve=True)
    renewal_fee = MembershipFee.objects.get(membership=membership, status=FeeStatus.DUE)
    assert renewal_fee.renewal
    _pay(rules, operator, [membership], gansu["finance"])
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    # The renewed period has its own certificate, valid to the new end date.
    assert Certificate.objects.filter(holder=person, kind="membership").count() == 2
    assert Certificate.objects.filter(holder=person, valid_until=membership.ends_on).exists()
    actions = list(membership.events.order_by("pk").values_list("action", flat=True))
    assert actions == [
        "apply",
        "recommend",
        "confirm",
        "approve",
        "activate",
        "expire",
        "recommend_renewal",
        "confirm",
        "approve",
        "activate",
    ]


def test_rolled_back_recommendations_return_and_can_be_recommended_again(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("rollback", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    recommendation_confirm(rules=rules, company=company, actor=operator)

    membership_roll_back(rules=rules, company=company, actor=operator, membership_id=membership.pk)
    membership.refresh_from_db()
    assert (membership.status, membership.batch_id) == (MembershipStatus.ROLLED_BACK, None)
    assert RecommendationBatch.objects.count() == 1  # the confirmed record stays

    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.RECOMMENDED_NEW


def test_recommending_a_person_of_another_company_changes_nothing(gansu):
    rules = gansu["rules"]
    mine = _apply(rules, _person("mine", gansu["company"], sequence="124"))
    theirs = _apply(rules, _person("theirs", gansu["other"], sequence="125"))
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        memberships_recommend(
            rules=rules,
            company=gansu["company"],
            actor=gansu["operator"],
            membership_ids=[mine.pk, theirs.pk],
        )
    assert error.value.code == "not_found"
    assert _snapshot() == before


def test_recommending_twice_changes_nothing(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("twice", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    assert error.value.code == "already_recommended"
    assert _snapshot() == before


def test_rolling_back_after_the_decision_changes_nothing(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("decided", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    recommendation_confirm(rules=rules, company=company, actor=operator)
    memberships_decide(rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=True)
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        membership_roll_back(rules=rules, company=company, actor=operator, membership_id=membership.pk)
    assert error.value.code == "already_decided"
    assert _snapshot() == before


def test_approving_someone_who_has_not_applied_or_was_not_recommended_changes_nothing(gansu):
    rules = gansu["rules"]
    membership = _apply(rules, _person("notyet", gansu["company"]))
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        memberships_decide(
            rules=rules, actor=gansu["staff"], membership_ids=[membership.pk + 999], approve=True
        )
    assert error.value.code == "not_found"
    with pytest.raises(MembershipError) as error:
        memberships_decide(rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=True)
    assert error.value.code == "not_recommended"
    assert _snapshot() == before


def test_an_unconfirmed_recommendation_cannot_be_approved(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("unconfirmed", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        memberships_decide(rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=True)
    assert error.value.code == "not_confirmed"
    assert _snapshot() == before


def test_rejecting_needs_a_reason_and_the_person_may_correct_and_apply_again(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    person = _person("rejected", company)
    membership = _apply(rules, person)
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    recommendation_confirm(rules=rules, company=company, actor=operator)
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        memberships_decide(rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=False)
    assert error.value.code == "reason_required"
    assert _snapshot() == before

    memberships_decide(
        rules=rules,
        actor=gansu["staff"],
        membership_ids=[membership.pk],
        approve=False,
        reason="职称证明不符",
    )
    membership.refresh_from_db()
    assert (membership.status, membership.reason) == (MembershipStatus.REJECTED, "职称证明不符")
    assert not MembershipFee.objects.filter(membership=membership).exists()

    again = _apply(rules, person, professional_title="高级工程师")
    assert (again.pk, again.status, again.answers["professional_title"]) == (
        membership.pk,
        MembershipStatus.APPLIED,
        "高级工程师",
    )


def test_paying_a_fee_for_a_rejected_member_changes_nothing(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("nofee", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    recommendation_confirm(rules=rules, company=company, actor=operator)
    memberships_decide(
        rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=False, reason="不符"
    )
    assert list(selectors.fees_payable(payer=operator)) == []
    # Even a fee row that somehow exists for it is refused.
    fee = MembershipFee.objects.create(
        membership=membership, years=5, fee_per_year_fen=20000, amount_fen=100000
    )
    before = _snapshot()
    with pytest.raises(BillingError) as error:
        _fee_orders(rules, operator, [fee])
    assert error.value.code == "not_payable"
    assert _snapshot() == before
    assert not OrderItem.objects.filter(membership_fee=fee).exists()


def test_another_company_cannot_pay_the_fee(gansu):
    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    membership = _apply(rules, _person("feeowner", company))
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
    recommendation_confirm(rules=rules, company=company, actor=operator)
    memberships_decide(rules=rules, actor=gansu["staff"], membership_ids=[membership.pk], approve=True)
    fee = MembershipFee.objects.get(membership=membership)
    before = _snapshot()
    with pytest.raises(BillingError) as error:
        _fee_orders(rules, gansu["other_operator"], [fee])
    assert error.value.code == "not_payable"
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"phone": "12345"}, "invalid"),
        ({"name": ""}, "invalid"),
        ({"qq": "abc"}, "invalid"),
    ],
)
def test_bad_applications_change_nothing(gansu, change, code):
    person = _person("badinput", gansu["company"])
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        _apply(gansu["rules"], person, **change)
    assert error.value.code == code
    assert _snapshot() == before


def test_applicants_must_be_below_the_age_limit_have_a_company_and_a_fitting_photo(gansu):
    rules = gansu["rules"]
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        _apply(rules, _person("old", gansu["company"], birth="19500101"))
    assert "60岁以下" in error.value.message
    with pytest.raises(MembershipError) as error:
        _apply(rules, _person("nocompany", None, sequence="126"))
    assert error.value.code == "no_company"
    with pytest.raises(MembershipError) as error:
        membership_apply(
            rules=rules,
            person=_person("bigphoto", gansu["company"], sequence="127"),
            answers=ANSWERS,
            photo=PhotoUpload(data=b"not an image", filename="x.jpg"),
        )
    assert error.value.code == "photo_invalid"
    with pytest.raises(MembershipError) as error:
        membership_apply(
            rules=rules, person=_person("nophoto", gansu["company"], sequence="128"), answers=ANSWERS
        )
    assert error.value.code == "photo_required"
    assert _snapshot() == before


def test_a_submitted_application_is_locked_for_the_person_and_staff_edits_are_audited(gansu):
    rules = gansu["rules"]
    person = _person("locked", gansu["company"])
    membership = _apply(rules, person)
    before = _snapshot()
    with pytest.raises(MembershipError) as error:
        _apply(rules, person, professional_title="高级工程师")
    assert error.value.code == "already_applied"
    assert _snapshot() == before

    membership_staff_edit(
        membership_id=membership.pk, actor=gansu["staff"], answers={"professional_title": "高级工程师"}
    )
    membership.refresh_from_db()
    assert membership.answers["professional_title"] == "高级工程师"
    event = membership.events.get(action="staff_edit")
    assert event.changes == {"professional_title": ["工程师", "高级工程师"]}
    with pytest.raises(MembershipError) as error:
        membership_staff_edit(membership_id=membership.pk, actor=gansu["staff"], answers={"id_number": "x"})
    assert error.value.code == "unchanged"  # the ID number is the account: never edited here


def test_reminders_go_out_once_per_day_count(gansu, django_capture_on_commit_callbacks):
    rules, company = gansu["rules"], gansu["company"]
    person = _person("remind", company)
    membership = _apply(rules, person)
    Membership.objects.filter(pk=membership.pk).update(
        status=MembershipStatus.ACTIVE,
        starts_on=date(2021, 1, 1),
        ends_on=timezone.localdate() + timedelta(days=30),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert membership_reminders_send(rules=rules) == 1
        assert membership_reminders_send(rules=rules) == 0
    assert ExpiryReminder.objects.filter(membership=membership, days_before=30).count() == 1
    from shared.notices.models import Message

    assert set(
        Message.objects.filter(title="会员即将到期提醒").values_list("recipient__username", flat=True)
    ) == {
        "remind",
        gansu["operator"].username,
    }
    assert mail.outbox == [] or all("会员即将到期" in message.subject for message in mail.outbox)


def test_membership_is_switched_on_for_another_tenant_by_its_rules_alone(tenant_b):
    """sichuanb's rules with gansu's membership section (company pays, 10 元 × 1 年, no e-confirmation)."""
    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    data["association"]["slug"] = "sichuanb"
    data["membership"] = {
        "enabled": True,
        "fee_per_year_fen": 1000,
        "period_years": 1,
        "company_recommendation_required": True,
        "renewal_by_company": True,
        "company_may_roll_back": True,
    }
    rules = load_rules_data(data, source="membership switched on")
    with schema_context("sichuanb"):
        company, operator = _company("四川华成监理有限公司")
        person = _person("sichuanb-member", company)
        membership = membership_apply(rules=rules, person=person, answers=ANSWERS)
        memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])
        staff = StaffFactory(username="sichuanb-reviewer", staff_roles=["reviewer"])
        memberships_decide(rules=rules, actor=staff, membership_ids=[membership.pk], approve=True)
        fee = MembershipFee.objects.get(membership=membership)
        assert (fee.years, fee.amount_fen) == (1, 1000)
    with schema_context("gansu"):
        # The look-alike's membership is not gansu's: same ids mean other rows, or none.
        assert not Membership.objects.filter(person__username="sichuanb-member").exists()


def test_members_take_the_associations_trainings_free_and_others_are_refused(gansu):
    """gansu: jianli_yewu is members-only and free for members; the session's own price is 300 元."""
    from registration import rules as engine
    from registration.services import SessionInput, application_enrol_bulk, program_create, session_create

    rules, company, operator = gansu["rules"], gansu["company"], gansu["operator"]
    admin = User.objects.get(username="admin")
    program = program_create(rules=rules, code="jianli_yewu", actor=admin)
    session = session_create(
        rules=rules,
        program=program,
        actor=admin,
        data=SessionInput(
            code="M1",
            name="会员一期",
            capacity=10,
            opens_at=timezone.now() - timedelta(days=1),
            closes_at=timezone.now() + timedelta(days=5),
            fee_fen=30000,
        ),
    )
    member = _person("member", company, sequence="131")
    outsider = _person("outsider", company, sequence="132")
    membership = _apply(rules, member)
    memberships_recommend(rules=rules, company=company, actor=operator, membership_ids=[membership.pk])

    results = application_enrol_bulk(
        rules=rules,
        rules_version=1,
        session_id=session.pk,
        person_ids=[member.pk, outsider.pk],
        actor=operator,
        submission=engine.Submission(answers={}, documents=frozenset(), pledges={}, with_materials=None),
    )
    by_person = {result.person_id: result for result in results}
    assert by_person[member.pk].application is not None
    assert by_person[member.pk].application.fee_fen == 0
    assert by_person[outsider.pk].application is None
    assert [problem.code for problem in by_person[outsider.pk].problems] == ["members_only"]

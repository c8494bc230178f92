"""The person's own pages: 历史动态 (payments and courses, newest first) and 修改密码, on the association's
host, with look-alike rows on the twin tenant and someone else's rows in the same tenant."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import Order, OrderItem
from registration.models import Application, Program, TrainingSession
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.accounts.selectors_history import history_for_person
from tests.conftest import host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

SICHUAN = "sichuan.localhost"
SICHUANB = "sichuanb.localhost"
OLD_PASSWORD = "Old-pass-2026"


@dataclass
class Story:
    person: User
    other: User
    applications: list[Application]
    own_order: Order
    company_order: Order


def _order(number: str, *, total_fen: int, created_by: User, at, **payer) -> Order:
    return Order.objects.create(
        number=number,
        reference=number[-8:],
        total_fen=total_fen,
        channel="offline_transfer",
        rules_version=1,
        created_by=created_by,
        created_at=at,
        **payer,
    )


def _story(schema: str) -> Story:
    """A person who enrolled twice (one paid by their company, one paid themself) and a second person
    in the same company with an order of their own."""
    now = timezone.now()
    with schema_context(schema):
        company = Company.objects.create(name="成都华建监理有限公司")
        operator = User.objects.create_user("op", None, kind=UserKind.COMPANY, company=company)
        person = User.objects.create_user("zhang", OLD_PASSWORD, kind=UserKind.PERSON, name="张伟")
        PersonProfile.objects.create(
            user=person, name="张伟", id_number=valid_id_number("510104", "19850312", "123"), company=company
        )
        other = User.objects.create_user("li", None, kind=UserKind.PERSON, name="李娜")
        PersonProfile.objects.create(
            user=other, name="李娜", id_number=valid_id_number("510104", "19900101", "456"), company=company
        )
        program = Program.objects.create(code="jianli_hist", name="监理人员职业培训")
        session = TrainingSession.objects.create(program=program, code="H1", name="第一期")
        late = TrainingSession.objects.create(program=program, code="H2", name="第二期")

        def apply(who, on, status, days_ago):
            return Application.objects.create(
                program=program,
                session=on,
                enrolment_key=f"jianli_hist:{on.code}",
                person=who,
                channel="company",
                status=status,
                rules_version=1,
                fee_fen=80000,
                created_at=now - timedelta(days=days_ago),
                submitted_at=now - timedelta(days=days_ago),
            )

        first = apply(person, session, "paid", 30)
        second = apply(person, late, "approved", 5)
        theirs = apply(other, session, "paid", 29)
        company_order = _order(
            "C202601010001",
            total_fen=160000,
            created_by=operator,
            at=now - timedelta(days=20),
            payer_company=company,
        )
        company_order.status = "paid"
        company_order.paid_at = now - timedelta(days=19)
        company_order.save(update_fields=["status", "paid_at"])
        OrderItem.objects.create(
            order=company_order,
            key=f"application:{first.pk}",
            application=first,
            label="张伟 第一期",
            amount_fen=80000,
        )
        OrderItem.objects.create(
            order=company_order,
            key=f"application:{theirs.pk}",
            application=theirs,
            label="李娜 第一期",
            amount_fen=80000,
        )
        own_order = _order(
            "P202601020002",
            total_fen=80000,
            created_by=person,
            at=now - timedelta(days=2),
            payer_person=person,
        )
        OrderItem.objects.create(
            order=own_order,
            key=f"application:{second.pk}",
            application=second,
            label="张伟 第二期",
            amount_fen=80000,
        )
        other_order = _order(
            "P202601030003", total_fen=1000, created_by=other, at=now - timedelta(days=1), payer_person=other
        )
        assert other_order.pk
        return Story(person, other, [first, second], own_order, company_order)


@pytest.fixture
def stories(tenant_a, tenant_b) -> tuple[Story, Story]:
    return _story("sichuan"), _story("sichuanb")


def _client(schema: str, host: str, user: User) -> Client:
    client = host_client(host)
    with schema_context(schema):
        client.force_login(user)
    return client


def test_the_timeline_lists_the_persons_payments_and_courses_newest_first(stories):
    story, _twin = stories
    with schema_context("sichuan"):
        entries = history_for_person(person=story.person)

    assert [
        (entry.kind, entry.title, entry.detail, entry.status_label, entry.amount) for entry in entries
    ] == [
        ("payment", "缴费 订单 P202601020002", "张伟 第二期", "待支付", "800.00"),
        ("course", "监理人员职业培训", "第二期", "待支付", ""),
        ("payment", "成都华建监理有限公司缴费", "张伟 第一期", "已支付", "800.00"),
        ("course", "监理人员职业培训", "第一期", "已支付", ""),
    ]
    assert entries[0].link == f"/billing/orders/{story.own_order.pk}/"
    assert entries[1].link == f"/training/applications/{story.applications[1].pk}/"
    assert entries[2].link == ""  # the company's order is not the person's to open


def test_the_history_page_shows_only_the_persons_own_rows(stories):
    story, _twin = stories
    page = _client("sichuan", SICHUAN, story.person).get("/me/history/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="history-row') == 4
    assert "P202601020002" in html and "P202601030003" not in html and "李娜" not in html
    assert host_client(SICHUAN).get("/me/history/").status_code == 302


def test_the_me_page_links_the_persons_pages(stories):
    story, _twin = stories
    html = _client("sichuan", SICHUAN, story.person).get("/me/").content.decode()
    for href in ("/training/applications/", "/me/history/", "/me/messages/", "/me/password/"):
        assert f'href="{href}"' in html


def test_changing_the_password_needs_the_old_one_and_keeps_the_session(stories):
    story, _twin = stories
    client = _client("sichuan", SICHUAN, story.person)

    refused = client.post(
        "/me/password/",
        {"old_password": "wrong", "new_password1": "New-pass-2026x", "new_password2": "New-pass-2026x"},
    )
    assert refused.status_code == 200
    assert "旧密码" in refused.content.decode()
    with schema_context("sichuan"):
        assert User.objects.get(pk=story.person.pk).check_password(OLD_PASSWORD)

    done = client.post(
        "/me/password/",
        {"old_password": OLD_PASSWORD, "new_password1": "New-pass-2026x", "new_password2": "New-pass-2026x"},
    )
    assert (done.status_code, done["Location"]) == (302, "/me/")
    assert client.get("/me/").status_code == 200  # still logged in
    with schema_context("sichuan"):
        assert User.objects.get(pk=story.person.pk).check_password("New-pass-2026x")
    with schema_context("sichuanb"):
        assert User.objects.get(username="zhang").check_password(OLD_PASSWORD)


def test_an_account_without_a_password_sets_one(stories):
    story, _twin = stories
    client = _client("sichuan", SICHUAN, story.other)  # created without a password (SMS sign-up)

    response = client.post(
        "/me/password/", {"new_password1": "New-pass-2026x", "new_password2": "New-pass-2026x"}
    )
    assert response.status_code == 302
    with schema_context("sichuan"):
        assert User.objects.get(pk=story.other.pk).check_password("New-pass-2026x")

"""Notices (通知公告) by audience, their read receipts, and personal messages (站内信), on the associations'
own hosts. Every tenant-facing test has look-alike data (same usernames, same titles) on the twin tenant,
so a query that forgets the tenant or the audience fails."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from membership.models import Membership
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.models import AuditEntry
from shared.notices.models import Message, Notice, NoticeAudience, NoticeRead
from shared.notices.selectors import notice_read_counts
from shared.notices.services import (
    MessageError,
    NoticeError,
    NoticeInput,
    message_send,
    notice_create,
    notice_mark_read,
    notice_publish,
    notice_update,
    notice_withdraw,
)
from tests.conftest import host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

SICHUAN = "sichuan.localhost"
SICHUANB = "sichuanb.localhost"
GANSU = "gansu.localhost"


@dataclass
class World:
    schema: str
    host: str
    admin: User
    operator: User
    member: User
    plain: User


def _world(schema: str, host: str) -> World:
    """In `schema`: a company operator, a member (active membership), a person who is not a member."""
    with schema_context(schema):
        company = Company.objects.create(name="兰州建设监理有限公司")
        operator = User.objects.create_user("op", None, kind=UserKind.COMPANY, name="经办人", company=company)
        member = User.objects.create_user("member", None, kind=UserKind.PERSON, name="会员甲")
        PersonProfile.objects.create(
            user=member,
            name="会员甲",
            id_number=valid_id_number("620102", "19800101", "011"),
            email="member@example.com",
        )
        Membership.objects.create(
            person=member, status="active", ends_on=timezone.localdate() + timedelta(days=365)
        )
        plain = User.objects.create_user("plain", None, kind=UserKind.PERSON, name="个人乙")
        PersonProfile.objects.create(
            user=plain, name="个人乙", id_number=valid_id_number("620102", "19800101", "023")
        )
        return World(schema, host, User.objects.get(username="admin"), operator, member, plain)


def _client(world: World, user: User | None) -> Client:
    client = host_client(world.host)
    if user is not None:
        with schema_context(world.schema):
            client.force_login(user)
    return client


def _published(world: World, title: str, audience: str, body: str = "正文第一段。\n\n正文第二段。") -> Notice:
    with schema_context(world.schema):
        notice = notice_create(actor=world.admin, data=NoticeInput(title=title, body=body, audience=audience))
        return notice_publish(actor=world.admin, notice=notice)


@pytest.fixture
def gansu(tenant_gansu) -> World:
    return _world("gansu", GANSU)


@pytest.fixture
def pair(tenant_a, tenant_b) -> tuple[World, World]:
    """sichuan and its look-alike twin, each with the same accounts and a notice of every audience."""
    first, twin = _world("sichuan", SICHUAN), _world("sichuanb", SICHUANB)
    for audience in NoticeAudience.values:
        _published(twin, f"另一协会 {audience}", audience)
    return first, twin


def _titles(client: Client) -> list[str]:
    response = client.get("/api/v1/notices/")
    assert response.status_code == 200, response.content[:300]
    return [item["title"] for item in response.json()]


def test_a_company_operator_sees_company_notices_and_a_person_does_not(pair):
    world, _twin = pair
    notice = _published(world, "关于开展企业信用评价的通知", NoticeAudience.COMPANIES)
    everyone = _published(world, "协会春节放假安排", NoticeAudience.ALL)

    operator, person = _client(world, world.operator), _client(world, world.plain)

    assert _titles(operator) == ["协会春节放假安排", "关于开展企业信用评价的通知"]
    assert _titles(person) == ["协会春节放假安排"]
    response = operator.get(f"/notices/{notice.pk}/")
    assert response.status_code == 200
    assert "<p>正文第一段。</p>\n\n<p>正文第二段。</p>" in response.content.decode()
    assert person.get(f"/notices/{notice.pk}/").status_code == 404
    assert person.get(f"/notices/{everyone.pk}/").status_code == 200
    list_page = person.get("/notices/").content.decode()
    assert "协会春节放假安排" in list_page and "企业信用评价" not in list_page


def test_a_member_sees_member_notices_and_a_non_member_gets_404(pair):
    world, _twin = pair
    notice = _published(world, "会员继续教育安排", NoticeAudience.MEMBERS)

    assert _titles(_client(world, world.member)) == ["会员继续教育安排"]
    assert _titles(_client(world, world.plain)) == []
    assert _titles(_client(world, world.operator)) == []
    assert _client(world, world.member).get(f"/notices/{notice.pk}/").status_code == 200
    assert _client(world, world.plain).get(f"/notices/{notice.pk}/").status_code == 404
    with schema_context(world.schema):
        assert not NoticeRead.objects.filter(user=world.plain).exists()
        # An expired membership no longer counts.
        Membership.objects.filter(person=world.member).update(status="expired")
    assert _client(world, world.member).get(f"/notices/{notice.pk}/").status_code == 404
    # Staff see every published notice.
    assert _titles(_client(world, world.admin)) == ["会员继续教育安排"]


def test_a_draft_is_not_visible_and_withdrawing_hides_a_notice(pair):
    world, _twin = pair
    with schema_context(world.schema):
        draft = notice_create(
            actor=world.admin, data=NoticeInput(title="草稿通知", body="未发布", audience=NoticeAudience.ALL)
        )
    published = _published(world, "已发布通知", NoticeAudience.ALL)
    reader = _client(world, world.plain)

    assert _titles(reader) == ["已发布通知"]
    assert reader.get(f"/notices/{draft.pk}/").status_code == 404

    with schema_context(world.schema):
        withdrawn = notice_withdraw(actor=world.admin, notice=published)
        again = notice_withdraw(actor=world.admin, notice=published)  # idempotent
        assert (withdrawn.status, again.status) == ("withdrawn", "withdrawn")
        assert AuditEntry.objects.filter(action="notice.withdraw", object_id=str(published.pk)).count() == 1
        # A draft cannot be withdrawn; nothing changes.
        with pytest.raises(NoticeError) as refused:
            notice_withdraw(actor=world.admin, notice=draft)
        assert refused.value.code == "invalid_state"
        assert Notice.objects.get(pk=draft.pk).status == "draft"
    assert _titles(reader) == []
    assert reader.get(f"/notices/{published.pk}/").status_code == 404
    assert reader.post(f"/api/v1/notices/{published.pk}/read/").json() == {
        "code": "not_found",
        "message": "通知不存在",
    }


def test_read_receipts_are_idempotent_and_counted_against_the_audience(pair):
    world, twin = pair
    notice = _published(world, "企业年报填报通知", NoticeAudience.COMPANIES)
    with schema_context(world.schema):
        User.objects.create_user(
            "op2", None, kind=UserKind.COMPANY, company=Company.objects.get(name="兰州建设监理有限公司")
        )
    operator = _client(world, world.operator)

    assert operator.get(f"/notices/{notice.pk}/").status_code == 200
    assert operator.get(f"/notices/{notice.pk}/").status_code == 200
    first = operator.post(f"/api/v1/notices/{notice.pk}/read/").json()
    assert operator.post(f"/api/v1/notices/{notice.pk}/read/").json() == first
    # Staff opening it are readers, not audience: not counted.
    assert _client(world, world.admin).get(f"/notices/{notice.pk}/").status_code == 200

    with schema_context(world.schema):
        receipt = NoticeRead.objects.get(notice=notice, user=world.operator)
        assert notice_mark_read(notice=notice, user=world.operator).read_at == receipt.read_at
        assert NoticeRead.objects.filter(notice=notice).count() == 2  # operator + admin
        counts = notice_read_counts([Notice.objects.get(pk=notice.pk)])
        assert (counts[notice.pk].read, counts[notice.pk].audience) == (1, 2)  # of operator and op2
    api = {item["title"]: item["read"] for item in operator.get("/api/v1/notices/").json()}
    assert api == {"企业年报填报通知": True}
    console = _client(world, world.admin).get("/console/notices/").content.decode()
    assert '<td class="read-count">1 / 2</td>' in console
    with schema_context(twin.schema):
        assert not NoticeRead.objects.exists()


def test_a_notice_of_tenant_a_is_not_visible_on_tenant_b(pair):
    world, twin = pair
    notice = _published(world, "四川协会专属通知", NoticeAudience.ALL)
    twin_reader = _client(twin, twin.plain)

    assert "四川协会专属通知" not in _titles(twin_reader)
    same_id = twin_reader.get(f"/notices/{notice.pk}/")
    assert "四川协会专属通知" not in same_id.content.decode()
    with schema_context(twin.schema):
        if not Notice.objects.filter(pk=notice.pk).exists():  # ids are per schema: the twin may have one
            assert same_id.status_code == 404
    assert "四川协会专属通知" not in host_client(SICHUANB).get("/").content.decode()
    assert "四川协会专属通知" in host_client(SICHUAN).get("/").content.decode()


def test_anonymous_visitors_see_only_notices_for_everyone_on_the_home_page(pair):
    world, _twin = pair
    _published(world, "面向全体的公告", NoticeAudience.ALL)
    _published(world, "面向企业的公告", NoticeAudience.COMPANIES)

    home = host_client(SICHUAN).get("/").content.decode()
    assert "面向全体的公告" in home and "面向企业的公告" not in home
    # The list and detail pages ask to log in.
    assert host_client(SICHUAN).get("/notices/").status_code == 302


def test_the_home_page_shows_the_latest_five_notices_and_unread_messages(pair):
    world, _twin = pair
    for number in range(6):
        _published(world, f"第{number}号通知", NoticeAudience.ALL)
    with schema_context(world.schema):
        message_send(recipient=world.plain, title="会员即将到期", body="请及时续期")
        message_send(recipient=world.plain, title="报名已通过", body="")

    response = _client(world, world.plain).get("/")
    board = response.context["board"]
    assert [notice.title for notice in board.notices] == [f"第{number}号通知" for number in (5, 4, 3, 2, 1)]
    assert board.unread_messages == 2
    assert '<span class="badge active" id="unread-messages">2</span>' in response.content.decode()


def test_people_who_are_not_staff_cannot_write_notices_and_nothing_changes(pair):
    world, _twin = pair
    notice = _published(world, "原标题", NoticeAudience.ALL)
    with schema_context(world.schema):
        before = (Notice.objects.count(), AuditEntry.objects.count())
        for outsider in (world.operator, world.member):
            with pytest.raises(NoticeError) as refused:
                notice_create(actor=outsider, data=NoticeInput(title="冒充", body="冒充"))
            assert refused.value.code == "forbidden"
            with pytest.raises(NoticeError):
                notice_update(actor=outsider, notice=notice, data=NoticeInput(title="改", body="改"))
            with pytest.raises(NoticeError):
                notice_withdraw(actor=outsider, notice=notice)
    for outsider in (world.operator, world.plain):
        client = _client(world, outsider)
        assert client.get("/console/notices/").status_code == 403
        assert (
            client.post(
                "/console/notices/new/", {"title": "冒充", "body": "x", "audience": "all"}
            ).status_code
            == 403
        )
        assert client.post(f"/console/notices/{notice.pk}/withdraw/").status_code == 403
    with schema_context(world.schema):
        assert (Notice.objects.count(), AuditEntry.objects.count()) == before
        assert Notice.objects.get(pk=notice.pk).title == "原标题"
        assert Notice.objects.get(pk=notice.pk).status == "published"


def test_staff_write_publish_and_withdraw_in_the_console(pair):
    world, twin = pair
    staff = _client(world, world.admin)

    refused = staff.post("/console/notices/new/", {"title": "  ", "body": "正文", "audience": "all"})
    assert refused.status_code == 200
    with schema_context(world.schema):
        assert not Notice.objects.exists()

    response = staff.post(
        "/console/notices/new/",
        {
            "title": "<b>标题</b>",
            "body": "<script>alert(1)</script>",
            "audience": "members",
            "action": "publish",
        },
    )
    assert response.status_code == 302
    with schema_context(world.schema):
        notice = Notice.objects.get()
        assert (notice.title, notice.audience, notice.status, notice.author) == (
            "<b>标题</b>",
            "members",
            "published",
            world.admin,
        )
        assert list(
            AuditEntry.objects.filter(object_id=str(notice.pk), object_type="notices.notice")
            .order_by("id")
            .values_list("action", flat=True)
        ) == ["notice.create", "notice.publish"]
    page = _client(world, world.member).get(f"/notices/{notice.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;标题&lt;/b&gt;" in page

    assert staff.post(f"/console/notices/{notice.pk}/withdraw/").status_code == 302
    with schema_context(world.schema):
        assert Notice.objects.get(pk=notice.pk).status == "withdrawn"
    assert staff.post(f"/console/notices/{notice.pk}/publish/").status_code == 302
    with schema_context(world.schema):
        assert Notice.objects.get(pk=notice.pk).status == "published"
    edited = staff.post(
        f"/console/notices/{notice.pk}/edit/",
        {"title": "更正后的标题", "body": "更正", "audience": "members", "pinned": "on", "action": "save"},
    )
    assert edited.status_code == 302
    with schema_context(world.schema):
        notice = Notice.objects.get(pk=notice.pk)
        assert (notice.title, notice.body, notice.pinned, notice.status) == (
            "更正后的标题",
            "更正",
            True,
            "published",
        )
        update = AuditEntry.objects.get(action="notice.update", object_id=str(notice.pk))
        assert update.data == {"fields": ["title", "body", "pinned"]}
    with schema_context(twin.schema):
        assert not Notice.objects.filter(title="<b>标题</b>").exists()


def test_message_send_puts_it_in_the_inbox_and_emails_after_commit(pair, django_capture_on_commit_callbacks):
    world, twin = pair
    with schema_context(world.schema):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            message = message_send(
                recipient=world.member,
                title="会员资格即将到期",
                body="您的会员资格将于30天后到期。",
                link="/me/",
            )
            assert mail.outbox == []  # not before commit
        assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert (sent.subject, sent.to) == ("会员资格即将到期", ["member@example.com"])
    assert sent.body == "您的会员资格将于30天后到期。\n\nhttps://sichuan.localhost/me/"

    # No address: in the inbox only.
    with schema_context(world.schema), django_capture_on_commit_callbacks(execute=True) as callbacks:
        message_send(recipient=world.plain, title="无邮箱", body="")
    assert (len(callbacks), len(mail.outbox)) == (0, 1)

    # Rolled back with the change it reports: no message, no e-mail.
    with schema_context(world.schema), django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            message_send(recipient=world.member, title="回滚", body="")
            raise RuntimeError
        assert not Message.objects.filter(title="回滚").exists()
    assert len(mail.outbox) == 1

    # An unsafe link is refused and nothing is written.
    with schema_context(world.schema):
        for link in ("javascript:alert(1)", "//evil.example/x"):
            with pytest.raises(MessageError) as refused:
                message_send(recipient=world.member, title="链接", body="", link=link)
            assert refused.value.code == "invalid_link"
        assert list(Message.objects.values_list("title", flat=True).order_by("id")) == [
            "会员资格即将到期",
            "无邮箱",
        ]
        assert message.read_at is None
    with schema_context(twin.schema):
        assert not Message.objects.exists()


def test_the_inbox_marks_a_message_read_when_opened_and_hides_other_peoples(pair):
    world, twin = pair
    with schema_context(world.schema):
        mine = message_send(
            recipient=world.plain, title="报名审核通过", body="请缴费", link="/billing/orders/"
        )
        theirs = message_send(recipient=world.member, title="他人的消息", body="")
    with schema_context(twin.schema):
        message_send(recipient=twin.plain, title="另一协会的消息", body="")
    client = _client(world, world.plain)

    inbox = client.get("/me/messages/").content.decode()
    assert "报名审核通过" in inbox and "他人的消息" not in inbox and "另一协会的消息" not in inbox
    assert [item["title"] for item in client.get("/api/v1/messages/").json()] == ["报名审核通过"]
    assert client.get(f"/me/messages/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/messages/{theirs.pk}/read/").status_code == 404

    page = client.get(f"/me/messages/{mine.pk}/").content.decode()
    assert 'href="/billing/orders/"' in page
    with schema_context(world.schema):
        read_at = Message.objects.get(pk=mine.pk).read_at
        assert read_at is not None
        assert Message.objects.get(pk=theirs.pk).read_at is None
    again = client.post(f"/api/v1/messages/{mine.pk}/read/").json()
    assert again["id"] == mine.pk
    with schema_context(world.schema):
        assert Message.objects.get(pk=mine.pk).read_at == read_at


def test_the_api_needs_a_login(pair):
    world, _twin = pair
    client = host_client(world.host)
    assert client.get("/api/v1/notices/").status_code == 401
    assert client.get("/api/v1/messages/").status_code == 401


def test_gansu_members_and_companies_get_their_own_notices(gansu):
    to_companies = _published(gansu, "企业推荐会员工作通知", NoticeAudience.COMPANIES)
    to_members = _published(gansu, "会员年度培训通知", NoticeAudience.MEMBERS)

    assert _titles(_client(gansu, gansu.operator)) == ["企业推荐会员工作通知"]
    assert _titles(_client(gansu, gansu.member)) == ["会员年度培训通知"]
    assert _client(gansu, gansu.plain).get(f"/notices/{to_members.pk}/").status_code == 404
    assert _client(gansu, gansu.member).get(f"/notices/{to_companies.pk}/").status_code == 404


def test_the_openapi_schema_documents_notices_and_messages(tenant_a):
    schema = host_client(SICHUAN).get("/api/schema/", {"format": "json"}).json()

    assert set(schema["paths"]["/api/v1/notices/"]["get"]["responses"]) == {"200", "401"}
    assert set(schema["paths"]["/api/v1/notices/{notice_id}/read/"]["post"]["responses"]) == {
        "200",
        "401",
        "404",
    }
    assert set(schema["paths"]["/api/v1/messages/"]["get"]["responses"]) == {"200", "401"}
    assert set(schema["paths"]["/api/v1/messages/{message_id}/read/"]["post"]["responses"]) == {
        "200",
        "401",
        "404",
    }

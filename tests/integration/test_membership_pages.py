"""Membership pages and API on gansu's host: the person applies, the company recommends, confirms and
exports, staff decide, the company pays the fee; the look-alike host (sichuanb, membership off) answers
404, and another company's ids are answered like ids that do not exist."""

from io import BytesIO

import pytest
from django_tenants.utils import schema_context
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token

from membership.models import FeeStatus, Membership, MembershipFee, MembershipStatus, RecommendationBatch
from shared.accounts.models import Company, PersonProfile, UserKind
from tests.conftest import host_client, staff_client
from tests.factories import PASSWORD, StaffFactory, UserFactory
from tests.ids import valid_id_number
from tests.unit.test_document_checks import photo_jpeg

HOST = "gansu.localhost"
FORM = {
    "name": "李明",
    "education": "本科",
    "professional_title": "工程师",
    "phone": "13912345678",
    "address": "兰州市城关区",
    "qq": "",
}


def _login(username: str, host: str = HOST):
    client = host_client(host)
    assert client.post("/login/", {"username": username, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def world(tenant_gansu, tenant_b):
    with schema_context("gansu"):
        company = Company.objects.create(name="甘肃华成监理有限公司")
        other = Company.objects.create(name="甘肃另一监理有限公司")
        operator = UserFactory(username="gs-op", kind=UserKind.COMPANY, company=company, name="赵会计")
        other_operator = UserFactory(username="gs-other-op", kind=UserKind.COMPANY, company=other)
        people = []
        for number, (username, employer) in enumerate((("gs-li", company), ("gs-zhou", other))):
            person = UserFactory(username=username, kind=UserKind.PERSON)
            PersonProfile.objects.create(
                user=person,
                name=username,
                id_number=valid_id_number("620102", "19850101", f"{300 + number}"),
                company=employer,
            )
            people.append(person)
        StaffFactory(username="gs-reviewer", staff_roles=["reviewer"])
    return {"company": company, "operator": operator, "other_operator": other_operator, "people": people}


def _apply_on_page(client, **changes):
    photo = BytesIO(photo_jpeg())
    photo.name = "photo.jpg"
    return client.post("/membership/", {**FORM, **changes, "photo": photo})


def test_the_person_applies_on_the_page_and_sees_the_status(world):
    client = _login("gs-li")
    page = client.get("/membership/")
    assert (
        page.status_code == 200
        and "入会申请" in page.content.decode()
        and "60岁以下" in page.content.decode()
    )

    refused = _apply_on_page(client, phone="123")
    assert refused.status_code == 422 and "请填写有效的手机号" in refused.content.decode()
    with schema_context("gansu"):
        assert not Membership.objects.exists()

    assert _apply_on_page(client).status_code == 302
    page = client.get("/membership/").content.decode()
    assert "个人提交" in page and "不能自行修改" in page and "apply-form" not in page
    with schema_context("gansu"):
        membership = Membership.objects.get(person__username="gs-li")
        assert membership.answers["name"] == "李明" and membership.photo_id is not None


def test_the_company_recommends_confirms_exports_and_pays(world):
    _apply_on_page(_login("gs-li"))
    _apply_on_page(_login("gs-zhou"))
    with schema_context("gansu"):
        mine = Membership.objects.get(person__username="gs-li")
        theirs = Membership.objects.get(person__username="gs-zhou")

    company = _login("gs-op")
    listing = company.get("/company/membership/?tab=applied").content.decode()
    assert "李明" in listing and "个人提交（1）" in listing
    assert theirs.answers["name"] not in listing or theirs.answers["name"] == "李明"

    # Another company's person in the selection refuses the whole batch.
    company.post("/company/membership/recommend/", {"membership_ids": [mine.pk, theirs.pk], "tab": "applied"})
    with schema_context("gansu"):
        assert Membership.objects.get(pk=mine.pk).status == MembershipStatus.APPLIED

    company.post("/company/membership/recommend/", {"membership_ids": [mine.pk], "tab": "applied"})
    listing = company.get("/company/membership/?tab=recommended_new").content.decode()
    assert "企业推荐（新会员）（1）" in listing and "电子确认推荐" in listing

    assert company.post("/company/membership/confirm/").status_code == 302
    with schema_context("gansu"):
        batch = RecommendationBatch.objects.get()
    pdf = company.get(f"/company/membership/batches/{batch.pk}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    sheet = load_workbook(BytesIO(company.get(f"/company/membership/batches/{batch.pk}.xlsx").content)).active
    rows = list(sheet.values)
    assert rows[1][2] == "李明" and any(row and row[0] == "内容校验码（SHA-256）" for row in rows)
    assert rows[-1][1] == batch.content_sha256
    # Another company sees neither the batch nor the people.
    other = _login("gs-other-op")
    assert other.get(f"/company/membership/batches/{batch.pk}.pdf").status_code == 404
    assert "李明" not in other.get("/company/membership/?tab=recommended_new").content.decode()

    export = load_workbook(BytesIO(company.get("/company/membership/export.xlsx?tab=all").content)).active
    assert [row[0] for row in list(export.values)[1:]] == ["李明"]

    reviewer = _login("gs-reviewer")
    queue = reviewer.get("/console/membership/?tab=recommended_new").content.decode()
    assert batch.number in queue
    reviewer.post("/console/membership/decide/", {"membership_ids": [mine.pk], "decision": "approve"})
    with schema_context("gansu"):
        fee = MembershipFee.objects.get(membership=mine)
        assert fee.status == FeeStatus.DUE

    pay = company.get("/billing/pay/").content.decode()
    assert "待缴会费" in pay and "1,000.00" in pay
    preview = company.post(
        "/billing/pay/submit/", {"fee_ids": [fee.pk], "channel": "offline_transfer", "action": "confirm"}
    )
    assert preview.status_code == 302, preview.content.decode()[:2000]
    with schema_context("gansu"):
        item = fee.order_items.get()
        assert item.order.total_fen == 100000 and item.order.payer_company_id == world["company"].pk


def test_staff_export_and_edit_are_audited(world):
    _apply_on_page(_login("gs-li"))
    with schema_context("gansu"):
        membership = Membership.objects.get(person__username="gs-li")
    staff = staff_client(HOST, "gs-reviewer")
    response = staff.post(f"/console/membership/{membership.pk}/", {"professional_title": "高级工程师"})
    assert response.status_code == 302
    with schema_context("gansu"):
        membership.refresh_from_db()
        assert membership.answers["professional_title"] == "高级工程师"
        assert membership.events.filter(action="staff_edit").exists()
    export = load_workbook(BytesIO(staff.get("/console/membership/export.xlsx?tab=applied").content)).active
    assert list(export.values)[1][0] == "李明"
    # A company operator is not staff.
    assert _login("gs-op").get("/console/membership/").status_code in (302, 403)


def test_the_look_alike_tenant_without_membership_answers_404(world):
    with schema_context("sichuanb"):
        UserFactory(username="gs-li", kind=UserKind.PERSON)
    client = _login("gs-li", host="sichuanb.localhost")
    assert client.get("/membership/").status_code == 404


def test_the_api_runs_the_same_flow_and_hides_other_companies(world):
    with schema_context("gansu"):
        tokens = {
            user.username: Token.objects.create(user=user).key
            for user in (*world["people"], world["operator"], world["other_operator"])
        }
        reviewer = StaffFactory(username="gs-api-reviewer", staff_roles=["reviewer"])
        tokens["reviewer"] = Token.objects.create(user=reviewer).key

    def call(method, path, who, data=None, host=HOST, **extra):
        client = host_client(host)
        return getattr(client, method)(path, data, HTTP_AUTHORIZATION=f"Token {tokens[who]}", **extra)

    photo = BytesIO(photo_jpeg())
    photo.name = "photo.jpg"
    created = call("post", "/api/v1/membership/", "gs-li", {**FORM, "photo": photo})
    assert created.status_code == 201, created.content
    assert created.json()["membership"]["status"] == "applied"
    again = call("post", "/api/v1/membership/", "gs-li", {**FORM}, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "already_applied"
    membership_id = created.json()["membership"]["id"]

    listed = call("get", "/api/v1/company/memberships/?tab=applied", "gs-op").json()
    assert [row["id"] for row in listed["results"]] == [membership_id] and listed["counts"]["applied"] == 1
    assert call("get", "/api/v1/company/memberships/?tab=applied", "gs-other-op").json()["results"] == []

    stranger = call(
        "post",
        "/api/v1/company/memberships/recommend/",
        "gs-other-op",
        {"membership_ids": [membership_id]},
        content_type="application/json",
    )
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    recommended = call(
        "post",
        "/api/v1/company/memberships/recommend/",
        "gs-op",
        {"membership_ids": [membership_id]},
        content_type="application/json",
    )
    assert recommended.status_code == 200 and recommended.json()[0]["status"] == "recommended_new"
    early = call(
        "post",
        "/api/v1/staff/memberships/decide/",
        "reviewer",
        {"membership_ids": [membership_id], "approve": True},
        content_type="application/json",
    )
    assert early.status_code == 409 and early.json()["code"] == "not_confirmed"
    batch = call("post", "/api/v1/company/memberships/confirm/", "gs-op")
    assert batch.status_code == 201 and len(batch.json()["content_sha256"]) == 64
    decided = call(
        "post",
        "/api/v1/staff/memberships/decide/",
        "reviewer",
        {"membership_ids": [membership_id], "approve": True},
        content_type="application/json",
    )
    assert decided.status_code == 200 and decided.json()[0]["status"] == "approved"
    late = call("post", f"/api/v1/company/memberships/{membership_id}/roll-back/", "gs-op")
    assert late.status_code == 409 and late.json()["code"] == "already_decided"

    mine = call("get", "/api/v1/membership/", "gs-li").json()
    assert mine["fees"][0]["amount_fen"] == 100000 and mine["fees"][0]["status"] == "due"
    # The person's own fee is the company's to pay in gansu (payer = company).
    order = call(
        "post",
        "/api/v1/orders/",
        "gs-op",
        {"membership_fee_ids": [mine["fees"][0]["id"]], "channel": "offline_transfer"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="fee-order-1",
    )
    assert order.status_code == 201, order.content
    # gansu's token means nothing on the look-alike's host.
    assert call("get", "/api/v1/membership/", "gs-li", host="sichuanb.localhost").status_code == 401


def test_publishing_rules_with_membership_switches_it_on_for_another_tenant(
    world, django_capture_on_commit_callbacks
):
    """sichuanb publishes its rules with a [membership] section: its pages and API serve membership at once."""
    from tenant_configs.loader import load_rules_data, rules_to_data
    from tenant_configs.selectors import rules_current
    from tenant_configs.services import rules_publish

    with schema_context("sichuanb"):
        data = rules_to_data(rules_current())
        data["membership"] = {"enabled": True, "fee_per_year_fen": 5000, "period_years": 2}
        with django_capture_on_commit_callbacks(execute=True):  # the rules cache is forgotten after commit
            rules_publish(rules=load_rules_data(data, source="switch on"), actor=None, actor_label="测试")
        person = UserFactory(username="sb-person", kind=UserKind.PERSON)
        PersonProfile.objects.create(
            user=person, name="孙丽", id_number=valid_id_number("510104", "19900101", "401")
        )
    client = _login("sb-person", host="sichuanb.localhost")
    page = client.get("/membership/").content.decode()
    assert "入会申请" in page and "50.00 元/人/年" in page, (
        __import__("re").sub(r"<[^>]+>", " ", page)[-3000:] and "2 年为一个缴费期" in page
    )
    # No photo rule and no company recommendation there: the application goes straight to the association.
    applied = client.post("/membership/", FORM)
    assert applied.status_code == 302, applied.content.decode()[:1500]
    with schema_context("sichuanb"):
        assert Membership.objects.get(person=person).status == MembershipStatus.APPLIED
    with schema_context("gansu"):
        assert not Membership.objects.filter(person__username="sb-person").exists()

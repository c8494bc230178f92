"""The registration API (mini-program and integrators): open sessions, program forms, idempotent applying,
the person's own applications, resubmitting and withdrawing. Every refusal changes nothing; the
look-alike tenant sichuanb holds the same rules, program, session codes and phone numbers."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from registration import rules as engine
from registration.models import Application, Program, TrainingSession
from registration.services import application_review
from shared.accounts.models import Company, PersonProfile, StaffRole, User, UserKind
from shared.documents.models import Document
from shared.models import IdempotencyRecord
from tenant_configs.models import RulesVersion
from tests.conftest import CONFIGS, host_client
from tests.ids import valid_id_number

SICHUAN = "sichuan.localhost"
SICHUANB = "sichuanb.localhost"
PROGRAM = "api_course"
ANSWERS = {"exam_type": "normal", "major": "土木工程"}
BODY = {"answers": ANSWERS, "pledges": {"personal_pledge": "2"}, "with_materials": True}


# --- helpers ------------------------------------------------------------------------------------


def _api_rules(slug: str):
    """The tenant's own rules plus one program reviewed by the association (so staff decide), withdrawable
    before the first review, with a conditional field, an optional document and two pledges."""
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    data["association"]["slug"] = slug
    data["programs"].append(
        {
            "code": PROGRAM,
            "name": "2026年监理人员继续教育",
            "channel": "self_only",
            "unit_codes": ["jianli"],
            "review_chain": ["association"],
            "withdrawal": "before_first_review",
            "resubmit_after_rejection": True,
            "price": {"fee_fen": 60000, "materials_fee_fen": 8000, "materials_policy": "optional"},
            "fields": [
                {
                    "key": "exam_type",
                    "label": "考试类型",
                    "type": "choice",
                    "choices": [
                        {"value": "normal", "label": "正常考试"},
                        {"value": "retake", "label": "补考"},
                    ],
                },
                {
                    "key": "retake_reason",
                    "label": "补考原因",
                    "type": "text",
                    "shown_if": {"field": "exam_type", "equals": "retake"},
                },
                {"key": "major", "label": "所学专业", "type": "text"},
            ],
            "documents": [
                {
                    "key": "work_proof",
                    "label": "工作证明",
                    "required": False,
                    "formats": ["pdf"],
                    "max_kb": 1024,
                }
            ],
            "pledges": [
                {
                    "key": "personal_pledge",
                    "title": "个人承诺书",
                    "version": 2,
                    "text": "本人承诺所填资料真实。",
                },
                {
                    "key": "company_pledge",
                    "title": "企业承诺书",
                    "signer": "company",
                    "stage": "payment",
                    "text": "本单位承诺报名人员为本单位在职人员。",
                },
            ],
        }
    )
    return load_rules_data(data, source=f"api rules for {slug}")


@pytest.fixture
def api_rules(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    """Both tenants publish the same rules (rolled back with the test)."""
    from tenant_configs.services import rules_publish

    versions = {}
    for schema in ("sichuan", "sichuanb"):
        with schema_context(schema), django_capture_on_commit_callbacks(execute=True):
            versions[schema] = rules_publish(rules=_api_rules(schema), actor=None).number
    return versions


def _session(schema: str, *, code="2026-01", capacity=30, seats_taken=0, closes_in=timedelta(days=7)):
    now = timezone.now()
    with schema_context(schema):
        program, _ = Program.objects.get_or_create(code=PROGRAM, defaults={"name": "2026年监理人员继续教育"})
        return TrainingSession.objects.create(
            program=program,
            code=code,
            name=f"第{code[-1]}期",
            unit_code="jianli",
            location="成都市青羊区",
            capacity=capacity,
            seats_taken=seats_taken,
            opens_at=now - timedelta(days=1),
            closes_at=now + closes_in,
            fee_fen=60000,
            materials_fee_fen=8000,
        )


def _person(schema: str, *, phone="13812345678", sequence="123", company=True, verified=True):
    """A person of the tenant with an API token: by default in a company and real-name verified."""
    id_number = valid_id_number("510104", "19850312", sequence)
    with schema_context(schema):
        user = User.objects.create_user(
            phone,
            None,
            name="张伟",
            phone=phone,
            id_number=id_number,
            kind=UserKind.PERSON,
            real_name_verified_at=timezone.now() if verified else None,
        )
        employer = Company.objects.get_or_create(name="四川某监理有限公司")[0] if company else None
        PersonProfile.objects.create(
            user=user, name="张伟", id_number=id_number, phone=phone, company=employer
        )
        token = Token.objects.create(user=user).key
    return user, token


def _auth(token: str, key: str | None = None) -> dict:
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return headers


def _apply(host: str, session_id: int, token: str, body: dict = BODY, key: str | None = "key-1"):
    return host_client(host).post(
        f"/api/v1/sessions/{session_id}/apply/", body, content_type="application/json", **_auth(token, key)
    )


def _post(host: str, path: str, token: str, body: dict | None = None):
    return host_client(host).post(path, body or {}, content_type="application/json", **_auth(token))


def _get(host: str, path: str, token: str | None = None):
    return host_client(host).get(path, **(_auth(token) if token else {}))


def _state(schema: str, session: TrainingSession) -> tuple[int, int, int]:
    """(applications, seats taken, idempotency records) of the tenant: what a refusal must leave alone."""
    with schema_context(schema):
        return (
            Application.objects.count(),
            TrainingSession.objects.get(pk=session.pk).seats_taken,
            IdempotencyRecord.objects.count(),
        )


def _review(application_id: int, *, approve: bool, reason: str = "") -> None:
    """An association reviewer of sichuan decides, through the service the staff console uses."""
    with schema_context("sichuan"):
        reviewer = User.objects.create_user(
            "shenhe", None, name="审核员", kind=UserKind.STAFF, staff_roles=[StaffRole.REVIEWER]
        )
        version = RulesVersion.objects.order_by("-number").values_list("number", flat=True).first()
        application_review(
            rules_version=version,
            application_id=application_id,
            actor=reviewer,
            approve=approve,
            reason=reason,
        )


# --- sessions and forms -------------------------------------------------------------------------


def test_open_sessions_of_the_host_are_listed_with_seats_and_prices(api_rules):
    session = _session("sichuan", capacity=30, seats_taken=4)
    _session("sichuan", code="2026-02", closes_in=timedelta(days=-1))  # closed: not listed
    twin = _session("sichuanb", code="2026-09", capacity=0)

    response = _get(SICHUAN, "/api/v1/sessions/")

    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [session.pk]
    row = rows[0]
    assert row["program"] == {"code": PROGRAM, "name": "2026年监理人员继续教育"}
    assert (row["code"], row["name"], row["unit_code"], row["unit_name"]) == (
        "2026-01",
        "第1期",
        "jianli",
        "监理分会",
    )
    assert (row["capacity"], row["seats_left"], row["waiting_list"]) == (30, 26, False)
    assert (row["fee_fen"], row["materials_fee_fen"], row["location"]) == (60000, 8000, "成都市青羊区")
    assert row["closes_at"] == timezone.localtime(session.closes_at).isoformat()
    assert [row["id"] for row in _get(SICHUANB, "/api/v1/sessions/").json()] == [twin.pk]
    assert _get(SICHUANB, "/api/v1/sessions/").json()[0]["seats_left"] is None  # unlimited


def test_sessions_are_filtered_by_program(api_rules):
    _session("sichuan")

    assert _get(SICHUAN, f"/api/v1/sessions/?program={PROGRAM}").json()[0]["program"]["code"] == PROGRAM
    assert _get(SICHUAN, "/api/v1/sessions/?program=jianli_2022").json() == []


def test_the_program_form_describes_fields_documents_application_pledges_and_materials(api_rules):
    _session("sichuan")

    response = _get(SICHUAN, f"/api/v1/programs/{PROGRAM}/form/")

    assert response.status_code == 200
    form = response.json()
    assert form["program"] == {"code": PROGRAM, "name": "2026年监理人员继续教育"}
    assert (form["channel"], form["requires_real_name"], form["requires_photo"]) == ("self_only", True, False)
    assert [field["key"] for field in form["fields"]] == ["exam_type", "retake_reason", "major"]
    exam_type, retake_reason, _ = form["fields"]
    assert exam_type["choices"] == [
        {"value": "normal", "label": "正常考试", "city_code": ""},
        {"value": "retake", "label": "补考", "city_code": ""},
    ]
    assert (exam_type["type"], exam_type["required"], exam_type["shown_if"]) == ("choice", True, None)
    assert retake_reason["shown_if"] == {"field": "exam_type", "equals": "retake"}
    assert form["documents"] == [
        {
            "key": "work_proof",
            "label": "工作证明",
            "required": False,
            "formats": ["pdf"],
            "max_kb": 1024,
            "allowed_pixel_sizes": [],
            "template_note": "",
        }
    ]
    assert form["pledges"] == [
        {"key": "personal_pledge", "title": "个人承诺书", "version": 2, "text": "本人承诺所填资料真实。"}
    ]
    assert form["materials"] == {"policy": "optional", "fee_fen": 60000, "materials_fee_fen": 8000}


def test_the_form_of_a_program_not_opened_on_this_host_is_not_found(api_rules):
    _session("sichuanb")  # opened on the look-alike only

    response = _get(SICHUAN, f"/api/v1/programs/{PROGRAM}/form/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "培训项目不存在或未开放报名"}


# --- applying -----------------------------------------------------------------------------------


def test_a_person_applies_and_gets_the_application(api_rules):
    session = _session("sichuan")
    person, token = _person("sichuan")

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["status_label"]) == ("association_review", "待协会审核")
    assert body["session"]["id"] == session.pk and body["program"]["code"] == PROGRAM
    assert body["answers"] == {"exam_type": "normal", "major": "土木工程"}
    assert (body["fee_fen"], body["with_materials"], body["rules_version"]) == (
        68000,
        True,
        api_rules["sichuan"],
    )
    assert (body["withdrawal_allowed"], body["resubmit_allowed"]) == (True, False)
    assert [(event["action"], event["to_status"]) for event in body["events"]] == [
        ("submit", "association_review")
    ]
    with schema_context("sichuan"):
        application = Application.objects.get()
        assert (application.pk, application.person_id, application.channel) == (body["id"], person.pk, "self")
        assert body["number"] == application.number
        assert list(application.pledges.values_list("key", "version")) == [("personal_pledge", 2)]
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == 1


def test_replaying_the_same_key_returns_the_same_answer_and_applies_once(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    first = _apply(SICHUAN, session.pk, token, key="retry-7f3a")

    again = _apply(SICHUAN, session.pk, token, key="retry-7f3a")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert _state("sichuan", session) == (1, 1, 1)


def test_a_replayed_refusal_is_the_same_refusal(api_rules):
    session = _session("sichuan", capacity=1, seats_taken=1)
    _, token = _person("sichuan")
    first = _apply(SICHUAN, session.pk, token, key="full-1")

    again = _apply(SICHUAN, session.pk, token, key="full-1")

    assert (first.status_code, again.status_code) == (422, 422)
    assert again.json() == first.json() and first.json()["code"] == "session_full"
    assert _state("sichuan", session) == (0, 1, 1)


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    _apply(SICHUAN, session.pk, token, key="k-1")
    before = _state("sichuan", session)

    response = _apply(SICHUAN, session.pk, token, body={**BODY, "with_materials": False}, key="k-1")

    assert response.status_code == 422
    assert response.json() == {
        "code": "idempotency_key_reused",
        "message": "该 Idempotency-Key 已用于另一个不同的请求，请换一个新的键",
    }
    assert _state("sichuan", session) == before == (1, 1, 1)


def test_the_same_key_on_another_session_is_a_different_request(api_rules):
    session = _session("sichuan")
    other = _session("sichuan", code="2026-02")
    _, token = _person("sichuan")
    _apply(SICHUAN, session.pk, token, key="k-1")

    response = _apply(SICHUAN, other.pk, token, key="k-1")

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert _state("sichuan", other) == (1, 0, 1)


@pytest.mark.parametrize("key", [None, "", "has space", "x" * 65, "中文键"])
def test_applying_without_a_valid_idempotency_key_is_refused(api_rules, key):
    session = _session("sichuan")
    _, token = _person("sichuan")

    response = _apply(SICHUAN, session.pk, token, key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert _state("sichuan", session) == (0, 0, 0)


def test_keys_are_per_account(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    _, other_token = _person("sichuan", phone="13900001111", sequence="456")

    first = _apply(SICHUAN, session.pk, token, key="same-key")
    second = _apply(SICHUAN, session.pk, other_token, key="same-key")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert _state("sichuan", session) == (2, 2, 2)


@pytest.mark.parametrize(
    ("body", "code", "problems"),
    [
        (
            {**BODY, "pledges": {}},
            "pledge_required",
            [
                {
                    "code": "pledge_required",
                    "message": "请阅读并同意《个人承诺书》",
                    "field": "personal_pledge",
                }
            ],
        ),
        (
            {**BODY, "pledges": {"personal_pledge": "1"}},
            "pledge_version_outdated",
            [
                {
                    "code": "pledge_version_outdated",
                    "message": "《个人承诺书》已更新为第 2 版，请重新阅读并同意",
                    "field": "personal_pledge",
                }
            ],
        ),
        (
            {**BODY, "answers": {**ANSWERS, "exam_type": "vip"}},
            "field_choice_invalid",
            [
                {
                    "code": "field_choice_invalid",
                    "message": "考试类型不能选择「vip」，请从选项中选择",
                    "field": "exam_type",
                }
            ],
        ),
        (
            {"answers": {"exam_type": "retake"}, "pledges": {}, "with_materials": None},
            "field_required",
            [
                {"code": "field_required", "message": "请填写补考原因", "field": "retake_reason"},
                {"code": "field_required", "message": "请填写所学专业", "field": "major"},
                {
                    "code": "materials_choice_required",
                    "message": "请选择是否购买培训资料",
                    "field": "with_materials",
                },
                {
                    "code": "pledge_required",
                    "message": "请阅读并同意《个人承诺书》",
                    "field": "personal_pledge",
                },
            ],
        ),
    ],
)
def test_a_form_the_rules_refuse_is_answered_with_every_problem_and_changes_nothing(
    api_rules, body, code, problems
):
    session = _session("sichuan")
    _, token = _person("sichuan")

    response = _apply(SICHUAN, session.pk, token, body=body)

    assert response.status_code == 422
    assert response.json()["code"] == code
    assert response.json()["problems"] == problems
    assert response.json()["message"] == "；".join(problem["message"] for problem in problems)
    assert _state("sichuan", session) == (0, 0, 1)  # the refusal is the key's stored answer


def test_outside_the_window_the_application_is_refused(api_rules):
    session = _session("sichuan", closes_in=timedelta(minutes=-1))
    _, token = _person("sichuan")

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 422
    assert response.json()["code"] == "window_closed"
    assert response.json()["problems"] == [{"code": "window_closed", "message": "报名已截止", "field": None}]
    assert _state("sichuan", session) == (0, 0, 1)


def test_a_full_session_refuses_the_application(api_rules):
    session = _session("sichuan", capacity=2, seats_taken=2)
    _, token = _person("sichuan")

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"code": "session_full", "message": "该班次名额已满", "field": None}
    ]
    assert _state("sichuan", session) == (0, 2, 1)


def test_applying_twice_to_one_course_is_refused(api_rules):
    session = _session("sichuan")
    other_session = _session("sichuan", code="2026-02")
    _, token = _person("sichuan")
    _apply(SICHUAN, session.pk, token, key="first")

    response = _apply(SICHUAN, other_session.pk, token, key="second")

    assert response.status_code == 422
    assert response.json()["code"] == "already_enrolled"
    assert _state("sichuan", other_session) == (1, 0, 2)


def test_a_person_outside_any_company_is_refused_where_the_rules_require_one(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan", company=False)

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {
            "code": "company_required",
            "message": "报名「2026年监理人员继续教育」须先加入所在单位，经单位审核通过后再报名",
            "field": None,
        }
    ]
    assert _state("sichuan", session) == (0, 0, 1)


def test_a_person_without_real_name_verification_is_refused_where_the_rules_require_it(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan", verified=False)

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"code": "real_name_required", "message": "报名前须先完成实名认证", "field": None}
    ]
    assert _state("sichuan", session) == (0, 0, 1)


def test_an_unknown_or_closed_program_session_is_not_found(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    with schema_context("sichuan"):
        Program.objects.filter(code=PROGRAM).update(is_open=False)

    closed = _apply(SICHUAN, session.pk, token, key="a")
    unknown = _apply(SICHUAN, session.pk + 1000, token, key="b")

    assert (closed.status_code, unknown.status_code) == (404, 404)
    assert closed.json() == unknown.json() == {"code": "not_found", "message": "班次不存在或已停止报名"}
    assert _state("sichuan", session)[:2] == (0, 0)


def test_only_person_accounts_apply(api_rules):
    session = _session("sichuan")
    with schema_context("sichuan"):
        company = Company.objects.create(name="四川另一监理公司")
        operator = User.objects.create_user("13700000000", None, kind=UserKind.COMPANY, company=company)
        token = Token.objects.create(user=operator).key

    response = _apply(SICHUAN, session.pk, token)

    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "message": "只有个人账户可以使用报名接口"}
    assert _state("sichuan", session) == (0, 0, 0)


def test_applying_needs_a_login_and_a_token_of_the_look_alike_is_unknown_here(api_rules):
    session = _session("sichuan")
    _person("sichuan")
    _, twin_token = _person("sichuanb")  # same phone, same name, its own tenant

    anonymous = host_client(SICHUAN).post(
        f"/api/v1/sessions/{session.pk}/apply/",
        BODY,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    foreign = _apply(SICHUAN, session.pk, twin_token)

    assert (anonymous.status_code, foreign.status_code) == (401, 401)
    assert foreign.json()["code"] == "authentication_failed"
    assert _state("sichuan", session) == (0, 0, 0)


# --- the person's applications ------------------------------------------------------------------


def test_the_person_lists_and_reads_their_own_applications_with_the_history(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    applied = _apply(SICHUAN, session.pk, token).json()

    listed = _get(SICHUAN, "/api/v1/applications/", token)
    detail = _get(SICHUAN, f"/api/v1/applications/{applied['id']}/", token)

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [applied["id"]]
    assert "events" not in listed.json()[0]
    assert listed.json()[0]["status_label"] == "待协会审核"
    assert detail.status_code == 200 and detail.json() == applied
    event = detail.json()["events"][0]
    assert (event["action"], event["step"], event["to_status"], event["reason"]) == (
        "submit",
        "",
        "association_review",
        "",
    )
    assert event["actor_label"] == "张伟"


def test_another_persons_application_is_answered_like_one_that_does_not_exist(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    _, other_token = _person("sichuan", phone="13900001111", sequence="456")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]

    others = _get(SICHUAN, f"/api/v1/applications/{application_id}/", other_token)
    missing = _get(SICHUAN, f"/api/v1/applications/{application_id + 1000}/", other_token)
    withdraw = _post(SICHUAN, f"/api/v1/applications/{application_id}/withdraw/", other_token)

    assert (others.status_code, missing.status_code, withdraw.status_code) == (404, 404, 404)
    assert (
        others.json() == missing.json() == withdraw.json() == {"code": "not_found", "message": "报名不存在"}
    )
    assert _get(SICHUAN, "/api/v1/applications/", other_token).json() == []
    with schema_context("sichuan"):
        assert Application.objects.get(pk=application_id).status == "association_review"


def test_an_application_id_of_one_tenant_is_not_found_on_the_look_alike(api_rules):
    session = _session("sichuan")
    _session("sichuanb")
    _, token = _person("sichuan")
    _, twin_token = _person("sichuanb")  # same phone: the twin
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]

    response = _get(SICHUANB, f"/api/v1/applications/{application_id}/", twin_token)
    foreign_token = _get(SICHUANB, f"/api/v1/applications/{application_id}/", token)

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "报名不存在"}
    assert foreign_token.status_code == 401
    with schema_context("sichuanb"):
        assert not Application.objects.exists()


def test_a_company_operator_has_no_applications_here(api_rules):
    with schema_context("sichuan"):
        company = Company.objects.create(name="四川另一监理公司")
        operator = User.objects.create_user("13700000000", None, kind=UserKind.COMPANY, company=company)
        token = Token.objects.create(user=operator).key

    response = _get(SICHUAN, "/api/v1/applications/", token)

    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


# --- withdraw and resubmit ----------------------------------------------------------------------


def test_withdrawing_releases_the_seat_and_withdrawing_again_changes_nothing(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]

    response = _post(SICHUAN, f"/api/v1/applications/{application_id}/withdraw/", token)
    again = _post(SICHUAN, f"/api/v1/applications/{application_id}/withdraw/", token)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_label"]) == ("withdrawn", "已撤回")
    assert response.json()["withdrawal_allowed"] is False
    assert [event["action"] for event in response.json()["events"]] == ["submit", "withdraw"]
    assert again.status_code == 200 and again.json() == response.json()
    assert _state("sichuan", session) == (1, 0, 1)


def test_withdrawing_after_the_association_approved_is_refused(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]
    _review(application_id, approve=True)

    response = _post(SICHUAN, f"/api/v1/applications/{application_id}/withdraw/", token)

    assert response.status_code == 409
    assert response.json() == {
        "code": "withdrawal_not_allowed",
        "message": "该报名已进入审核或缴费环节，不能撤回",
    }
    assert _state("sichuan", session) == (1, 1, 1)
    with schema_context("sichuan"):
        assert Application.objects.get(pk=application_id).status == "approved"


def test_after_a_staff_rejection_the_person_sees_the_reason_corrects_and_resubmits(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]
    _review(application_id, approve=False, reason="所学专业填写有误")
    rejected = _get(SICHUAN, f"/api/v1/applications/{application_id}/", token).json()

    response = _post(
        SICHUAN,
        f"/api/v1/applications/{application_id}/resubmit/",
        token,
        {**BODY, "answers": {**ANSWERS, "major": "工程管理"}, "with_materials": False},
    )

    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "所学专业填写有误")
    assert (rejected["resubmit_allowed"], rejected["withdrawal_allowed"]) == (True, True)
    assert [(e["action"], e["step"], e["reason"]) for e in rejected["events"]] == [
        ("submit", "", ""),
        ("reject", "association", "所学专业填写有误"),
    ]
    assert rejected["events"][1]["actor_label"] == "协会：审核员"
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["rejection_reason"], body["fee_fen"]) == ("association_review", "", 60000)
    assert body["answers"]["major"] == "工程管理"
    assert [event["action"] for event in body["events"]] == ["submit", "reject", "resubmit"]
    assert _state("sichuan", session) == (1, 1, 1)


def test_resubmitting_what_was_not_rejected_is_refused(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]

    response = _post(SICHUAN, f"/api/v1/applications/{application_id}/resubmit/", token, BODY)

    assert response.status_code == 409
    assert response.json() == {"code": "invalid_state", "message": "只有审核不通过的报名可以修改后重新提交"}
    assert _state("sichuan", session) == (1, 1, 1)


def test_a_resubmission_the_rules_refuse_changes_nothing(api_rules):
    session = _session("sichuan")
    _, token = _person("sichuan")
    application_id = _apply(SICHUAN, session.pk, token).json()["id"]
    _review(application_id, approve=False, reason="资料不全")

    response = _post(
        SICHUAN, f"/api/v1/applications/{application_id}/resubmit/", token, {**BODY, "pledges": {}}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "pledge_required"
    assert _state("sichuan", session) == (1, 0, 1)
    with schema_context("sichuan"):
        assert Application.objects.get(pk=application_id).status == "rejected"


# --- the schema ---------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_registration_endpoints_and_their_errors(tenant_a):
    schema = host_client(SICHUAN).get("/api/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    assert {
        "/api/v1/sessions/",
        "/api/v1/sessions/{session_id}/apply/",
        "/api/v1/programs/{program_code}/form/",
        "/api/v1/applications/",
        "/api/v1/applications/{application_id}/",
        "/api/v1/applications/{application_id}/resubmit/",
        "/api/v1/applications/{application_id}/withdraw/",
    } <= set(paths)
    apply = paths["/api/v1/sessions/{session_id}/apply/"]["post"]
    assert {"201", "400", "401", "403", "404", "422"} <= set(apply["responses"])
    assert "session_full" in apply["responses"]["422"]["description"]
    assert "idempotency_key_reused" in apply["responses"]["422"]["description"]
    assert [(p["name"], p["in"], p["required"]) for p in apply["parameters"] if p["in"] == "header"] == [
        ("Idempotency-Key", "header", True)
    ]
    for action in ("resubmit", "withdraw"):
        responses = paths[f"/api/v1/applications/{{application_id}}/{action}/"]["post"]["responses"]
        assert {"403", "404", "409"} <= set(responses)
        assert "withdrawal_not_allowed" in responses["409"]["description"]


# --- concurrency: one key, many identical requests at once ----------------------------------------

THREADS = 8


@pytest.fixture
def committed_applicant(django_db_setup, django_db_blocker):
    """Committed data for requests on several connections: a session of the tenant's own jianli_2022
    program (its published rules) and a person who meets them (company, real name, documents)."""
    with django_db_blocker.unblock(), schema_context("sichuan"):
        program, created = Program.objects.get_or_create(code="jianli_2022", defaults={"name": "监理培训"})
        session = TrainingSession.objects.create(
            program=program,
            code="API-IDEMPOTENCY",
            name="并发测试班",
            capacity=5,
            opens_at=timezone.now() - timedelta(days=1),
            closes_at=timezone.now() + timedelta(days=1),
        )
        company = Company.objects.create(name="并发测试监理公司")
        id_number = valid_id_number("510104", "19900101", "777")
        person = User.objects.create_user(
            "idem-person",
            None,
            kind=UserKind.PERSON,
            id_number=id_number,
            real_name_verified_at=timezone.now(),
        )
        PersonProfile.objects.create(
            user=person, name="并发", id_number=id_number, company=company, education="bachelor"
        )
        for key in ("id_card", "diploma"):
            Document.objects.create(
                owner=person,
                key=key,
                file=f"documents/{key}/x.jpg",
                content_type="image/jpeg",
                size_bytes=1,
                sha256="0",
            )
        token = Token.objects.create(user=person).key
        yield session, person, token
        Application.objects.filter(person=person).delete()
        Document.objects.filter(owner=person).delete()
        User.objects.filter(pk=person.pk).delete()  # profile, token and idempotency records cascade
        company.delete()
        session.delete()
        if created:
            program.delete()
    connection.set_schema_to_public()


def _race(session_id: int, token: str, keys: list[str], monkeypatch) -> list[tuple[int, dict, bool]]:
    """(status, body, replayed) of each key POSTed at once, one connection each. The rules engine is slowed
    so the first request is still working when the others arrive."""
    original = engine.evaluate

    def slow(**kwargs):
        time.sleep(0.05)
        return original(**kwargs)

    monkeypatch.setattr(engine, "evaluate", slow)
    body = {"answers": {"major": "土木工程"}, "pledges": {"personal_pledge": 1}, "with_materials": True}
    barrier = threading.Barrier(len(keys))
    answers: list[tuple[int, dict, bool]] = []

    def post(key: str) -> None:
        try:
            client = host_client(SICHUAN)
            barrier.wait()
            response = client.post(
                f"/api/v1/sessions/{session_id}/apply/",
                body,
                content_type="application/json",
                **_auth(token, key),
            )
            answers.append(
                (response.status_code, response.json(), response.has_header("Idempotent-Replayed"))
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.slow
def test_one_key_sent_by_many_connections_at_once_applies_once_and_answers_alike(
    committed_applicant, monkeypatch
):
    session, person, token = committed_applicant

    answers = _race(session.pk, token, ["same-key"] * THREADS, monkeypatch)

    assert len(answers) == THREADS
    assert {status for status, _, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body, _ in answers)
    assert sorted(replayed for _, _, replayed in answers) == [False] + [True] * (THREADS - 1)
    assert answers[0][1]["status"] == "company_review"  # jianli_2022: the company confirms first
    with schema_context("sichuan"):
        assert Application.objects.filter(person=person).count() == 1
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == 1
        assert IdempotencyRecord.objects.filter(user=person).count() == 1


@pytest.mark.slow
def test_control_with_a_new_key_per_retry_the_retries_are_refused_instead_of_answered(
    committed_applicant, monkeypatch
):
    session, person, token = committed_applicant

    answers = _race(session.pk, token, [f"key-{number}" for number in range(THREADS)], monkeypatch)

    # Still one application (the lock and the unique constraint), but the client's retries now see
    # "already enrolled" instead of the answer to the request that worked.
    assert sorted(status for status, _, _ in answers) == [201] + [422] * (THREADS - 1)
    assert {body["code"] for status, body, _ in answers if status == 422} == {"already_enrolled"}
    with schema_context("sichuan"):
        assert Application.objects.filter(person=person).count() == 1
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == 1


def test_one_apply_request_stays_within_its_statement_budget(api_rules):
    """DESIGN §8 / issue 4: at most 12 SQL statements per enrolment request (savepoints and the pledge
    row included; django-tenants' SET search_path too). Warm caches: a first person applies uncounted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = _session("sichuan")
    _, warm = _person("sichuan")
    _, token = _person("sichuan", phone="13812345679", sequence="124")
    assert _apply(SICHUAN, session.pk, warm, key="warm").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        response = _apply(SICHUAN, session.pk, token, key="counted")

    assert response.status_code == 201
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) <= 12, "\n".join(statement[:150] for statement in statements)

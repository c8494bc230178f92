"""报名审核 pages: the queue, one application, approve / reject / correct / bulk, for company operators,
training institutions and association reviewers; everyone else is refused, other companies' and other
associations' applications are 404.

Data is built with the services under the tenant's own rules. The sichuan rules are published (rolled back
with the test) with two additions the seed does not have: an inline choice field on the supervision
program (so a correction can pick an option the rules refuse) and a program reviewed by the association.
Institution accounts need training institutions, which only a cities-and-institutions scope allows: the
gansu tenant gets henan's rules with one extra program for that test.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from registration import rules as engine
from registration.models import Application, ApplicationEvent, TrainingSession
from registration.services import (
    SessionInput,
    application_review,
    application_submit,
    program_create,
    session_create,
)
from shared.accounts.models import Company, PersonProfile, StaffRole, User, UserKind
from shared.documents.services import document_upload
from shared.models import AuditEntry
from shared.validation import mask_id_number
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tenant_configs.selectors import rules_current, rules_current_version
from tenant_configs.services import rules_publish
from tests.conftest import CONFIGS, PASSWORD, host_client, staff_client
from tests.factories import StaffFactory
from tests.ids import valid_id_number
from tests.unit.test_document_checks import photo_jpeg

pytestmark = pytest.mark.django_db

HOST_A = "sichuan.localhost"
HOST_B = "sichuanb.localhost"
HOST_GANSU = "gansu.localhost"
COMPANY_NAME = "成都建设监理有限公司"
OTHER_COMPANY_NAME = "绵阳工程监理有限公司"
EXAM_TYPE = {
    "key": "exam_type",
    "label": "考试类型",
    "type": "choice",
    "choices": [{"value": "normal", "label": "正常考试"}, {"value": "retake", "label": "补考"}],
}
ASSOCIATION_PROGRAM = {
    "code": "jianli_review",
    "name": "监理人员继续教育（协会审核）",
    "channel": "self_only",
    "unit_codes": ["jianli"],
    "review_chain": ["association"],
    "withdrawal": "before_payment",
    "price": {"fee_fen": 50000},
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    # django-tenants' storage caches MEDIA_ROOT joined with this setting until this setting changes.
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    return tmp_path


def _publish(schema: str, data: dict, capture) -> None:
    data["association"]["slug"] = schema
    with schema_context(schema), capture(execute=True):
        rules_publish(rules=load_rules_data(data, source=f"review test rules for {schema}"), actor=None)


def _sichuan_review_rules() -> dict:
    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    data["programs"][0]["fields"].append(EXAM_TYPE)
    data["programs"].append(ASSOCIATION_PROGRAM)
    return data


@dataclass
class Association:
    """One association's review data: a company with its operator, another company, an open session."""

    schema: str
    company: Company
    operator: User
    other_company: Company
    other_operator: User
    session: TrainingSession
    people: int = 0


def _open_session(program_code: str, code: str = "2026-01", **fields) -> TrainingSession:
    rules = rules_current()
    program = program_create(rules=rules, code=program_code, actor=User.objects.get(username="admin"))
    now = timezone.now()
    return session_create(
        rules=rules,
        program=program,
        actor=User.objects.get(username="admin"),
        data=SessionInput(
            code=code,
            name=f"第{code[-1]}期",
            capacity=10,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=30),
            **fields,
        ),
    )


def _association(schema: str) -> Association:
    with schema_context(schema):
        company = Company.objects.create(name=COMPANY_NAME, unit_codes=["jianli"])
        other = Company.objects.create(name=OTHER_COMPANY_NAME, unit_codes=["jianli"])
        return Association(
            schema=schema,
            company=company,
            operator=User.objects.create_user("op_a", PASSWORD, kind=UserKind.COMPANY, company=company),
            other_company=other,
            other_operator=User.objects.create_user("op_b", PASSWORD, kind=UserKind.COMPANY, company=other),
            session=_open_session("jianli_2022", unit_code="jianli"),
        )


@pytest.fixture
def sichuan(tenant_a, django_capture_on_commit_callbacks) -> Association:
    _publish("sichuan", _sichuan_review_rules(), django_capture_on_commit_callbacks)
    return _association("sichuan")


@pytest.fixture
def twin(tenant_b, django_capture_on_commit_callbacks) -> Association:
    """sichuanb: the same rules, company names and login names as sichuan, none of its applications."""
    _publish("sichuanb", _sichuan_review_rules(), django_capture_on_commit_callbacks)
    return _association("sichuanb")


def person(where: Association, name: str, *, company: Company | None = None) -> User:
    """A verified person of `company` (default: the main company) with the ID photo and diploma uploaded."""
    where.people += 1
    number = where.people
    id_number = valid_id_number("510104", "19900101", f"{number:03d}")
    with schema_context(where.schema):
        user = User.objects.create_user(
            f"person{number}",
            PASSWORD,
            kind=UserKind.PERSON,
            name=name,
            phone=f"1380000{number:04d}",
            id_number=id_number,
            real_name_verified_at=timezone.now(),
        )
        PersonProfile.objects.create(
            user=user,
            name=name,
            id_number=id_number,
            phone=user.phone,
            company=company or where.company,
            education="bachelor",
        )
        for spec in rules_current().program("jianli_2022").documents:
            document_upload(
                owner=user,
                key=spec.key,
                spec=spec,
                data=photo_jpeg(),
                filename=f"{spec.key}.jpg",
                review_required=False,
            )
    return user


def apply(where: Association, applicant: User, session: TrainingSession | None = None) -> Application:
    with schema_context(where.schema):
        return application_submit(
            rules=rules_current(),
            rules_version=rules_current_version().number,
            session_id=(session or where.session).pk,
            person=applicant,
            actor=applicant,
            channel="self",
            submission=engine.Submission(
                answers={"major": "工程管理", "exam_type": "normal"},
                documents=frozenset(),
                pledges={"personal_pledge": "1"},
                with_materials=False,
            ),
        )


def reload(where: Association, application: Application) -> Application:
    with schema_context(where.schema):
        return Application.objects.select_related("session").get(pk=application.pk)


def event_actions(where: Association, application: Application) -> list[str]:
    with schema_context(where.schema):
        return list(ApplicationEvent.objects.filter(application=application).values_list("action", flat=True))


def names(html: str) -> list[str]:
    return re.findall(r'<td class="name">(.*?)</td>', html)


def tabs(html: str) -> dict[str, tuple[str, int]]:
    found = re.findall(r'data-status="(\w+)">(.*?) <span class="count">(\d+)</span>', html)
    return {status: (label, int(count)) for status, label, count in found}


def messages_of(html: str) -> list[str]:
    block = re.search(r'<ul class="messages">(.*?)</ul>', html, re.S)
    return re.findall(r"<li[^>]*>(.*?)</li>", block.group(1), re.S) if block else []


def block(html: str, element_id: str, closing: str) -> str:
    """The element with this id, up to the first `closing` tag after it."""
    start = html.index(f'id="{element_id}"')
    return html[start : html.index(closing, start)]


# ---------------------------------------------------------------------------------------------------------
# who sees what
# ---------------------------------------------------------------------------------------------------------


def test_a_company_operator_sees_only_its_own_companys_applications(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    wang = apply(sichuan, person(sichuan, "王芳"))
    chen = apply(sichuan, person(sichuan, "陈静", company=sichuan.other_company))
    operator = staff_client(HOST_A, "op_a")

    queue = operator.get("/review/")

    html = queue.content.decode()
    assert queue.status_code == 200
    assert names(html) == ["张伟", "王芳"]
    assert tabs(html) == {"company_review": ("待企业审核", 2), "all": ("全部", 2)}
    assert mask_id_number(zhang.person.id_number) in html and zhang.person.id_number not in html
    row = block(html, f"application-{zhang.pk}", "</tr>")
    assert "2022年四川省工程监理人员职业培训" in row and "第1期" in row and "待企业审核" in row
    assert '<td class="fee">800.00</td>' in row
    assert names(operator.get("/review/", {"q": "王芳"}).content.decode()) == ["王芳"]
    assert names(operator.get("/review/", {"q": wang.person.id_number}).content.decode()) == ["王芳"]
    assert operator.get(f"/review/{chen.pk}/").status_code == 404
    assert operator.post(f"/review/{chen.pk}/approve/").status_code == 404
    assert reload(sichuan, chen).status == "company_review"
    assert names(staff_client(HOST_A, "op_b").get("/review/").content.decode()) == ["陈静"]


def test_the_queue_is_paginated_and_keeps_its_filters_across_pages(sichuan, monkeypatch):
    from registration import views_review

    monkeypatch.setattr(views_review, "PAGE_SIZE", 1)
    apply(sichuan, person(sichuan, "张伟"))
    apply(sichuan, person(sichuan, "王芳"))
    operator = staff_client(HOST_A, "op_a")

    first = operator.get("/review/", {"status": "all"}).content.decode()
    second = operator.get("/review/", {"status": "all", "page": "2"}).content.decode()

    assert names(first) == ["张伟"] and names(second) == ["王芳"]
    assert '<a href="?status=all&amp;page=2">下一页</a>' in first
    assert "第 2 / 2 页，共 2 条" in second


def test_the_look_alike_association_sees_nothing_of_sichuan(sichuan, twin):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    person(twin, "张伟")  # same login name and ID number, in the other association, never applied
    operator_b = staff_client(HOST_B, "op_a")
    admin_b = staff_client(HOST_B, "admin")

    queue_b = operator_b.get("/review/").content.decode()

    assert names(queue_b) == [] and "暂无报名" in queue_b
    assert tabs(queue_b) == {"company_review": ("待企业审核", 0), "all": ("全部", 0)}
    assert operator_b.get(f"/review/{zhang.pk}/").status_code == 404
    assert admin_b.get(f"/review/{zhang.pk}/").status_code == 404
    assert operator_b.post(f"/review/{zhang.pk}/approve/").status_code == 404
    assert operator_b.post(f"/review/{zhang.pk}/reject/", {"reason": "不合格"}).status_code == 404
    assert reload(sichuan, zhang).status == "company_review"
    assert event_actions(sichuan, zhang) == ["submit"]


def test_people_and_finance_staff_are_forbidden_and_anonymous_visitors_sent_to_log_in(sichuan):
    zhang_user = person(sichuan, "张伟")
    zhang = apply(sichuan, zhang_user)
    applicant = staff_client(HOST_A, zhang_user.username)
    finance = staff_client(HOST_A, "finance")

    assert applicant.get("/review/").status_code == 403
    assert applicant.get(f"/review/{zhang.pk}/").status_code == 403
    assert applicant.post(f"/review/{zhang.pk}/approve/").status_code == 403
    assert finance.get("/review/").status_code == 403
    anonymous = host_client(HOST_A).get("/review/")
    assert (anonymous.status_code, anonymous["Location"]) == (302, "/login/?next=/review/")
    assert reload(sichuan, zhang).status == "company_review"


# ---------------------------------------------------------------------------------------------------------
# one application
# ---------------------------------------------------------------------------------------------------------


def test_the_detail_shows_the_application_masked_for_the_company_and_in_full_for_staff(sichuan):
    applicant = person(sichuan, "张伟")
    zhang = apply(sichuan, applicant)
    operator = staff_client(HOST_A, "op_a")

    html = operator.get(f"/review/{zhang.pk}/").content.decode()

    assert f'id="applicant-id-number">{mask_id_number(applicant.id_number)}<' in html
    assert applicant.id_number not in html
    answers = block(html, "answers", "</table>")
    for label, value in [
        ("学历", "本科"),
        ("所学专业", "工程管理"),
        ("考试类型", "正常考试"),
        ("培训资料", "不购买"),
    ]:
        assert f"<th>{label}</th><td>{value}</td>" in answers
    documents = re.findall(r'href="(/documents/\d+/file)"', block(html, "documents", "</table>"))
    assert len(documents) == 2
    assert all(operator.get(link).status_code == 200 for link in documents)
    assert "《个人承诺书》</td><td>第 1 版" in block(html, "pledges", "</table>")
    assert "<td>提交</td>" in block(html, "history", "</table>")
    assert 'id="decide"' in html and 'id="correct"' in html
    with schema_context("sichuan"):
        assert not AuditEntry.objects.filter(action="application.view", object_id=str(zhang.pk)).exists()

    staff_html = staff_client(HOST_A, "admin").get(f"/review/{zhang.pk}/").content.decode()

    assert f'id="applicant-id-number">{applicant.id_number}<' in staff_html
    assert 'id="decide"' not in staff_html  # the company step is not the association's to decide
    with schema_context("sichuan"):
        viewed = AuditEntry.objects.get(action="application.view", object_id=str(zhang.pk))
        assert (viewed.actor.username, viewed.object_id) == ("admin", str(zhang.pk))


def test_approving_moves_the_application_on_and_records_it(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(f"/review/{zhang.pk}/approve/")

    assert (response.status_code, response["Location"]) == (302, "/review/")
    approved = reload(sichuan, zhang)
    assert (approved.status, approved.holds_seat, approved.decided_at is not None) == ("approved", True, True)
    with schema_context("sichuan"):
        event = ApplicationEvent.objects.get(application=zhang, action="approve")
        assert (event.step, event.from_status, event.to_status) == ("company", "company_review", "approved")
        assert event.actor_label == f"单位：{COMPANY_NAME}"
        assert event.rules_version == rules_current_version().number
        audit = AuditEntry.objects.get(action="application.approve", object_id=str(zhang.pk))
        assert (audit.actor.username, audit.object_id) == ("op_a", str(zhang.pk))
    assert messages_of(operator.get("/review/").content.decode()) == [f"张伟（{zhang.number}）已通过。"]
    assert names(operator.get("/review/").content.decode()) == []


def test_rejecting_without_a_reason_is_refused_and_changes_nothing(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(f"/review/{zhang.pk}/reject/", {"reason": "   "})

    assert response.status_code == 200
    assert (
        '<ul class="errorlist" id="reject-error"><li>请填写不通过的原因</li></ul>'
        in response.content.decode()
    )
    unchanged = reload(sichuan, zhang)
    assert (unchanged.status, unchanged.rejection_reason, unchanged.holds_seat) == (
        "company_review",
        "",
        True,
    )
    assert unchanged.session.seats_taken == 1
    assert event_actions(sichuan, zhang) == ["submit"]
    with schema_context("sichuan"):
        assert not AuditEntry.objects.filter(action="application.reject", object_id=str(zhang.pk)).exists()


def test_rejecting_with_a_reason_stores_it_and_releases_the_seat(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(f"/review/{zhang.pk}/reject/", {"reason": "毕业证书照片不清晰"})

    assert response.status_code == 302
    rejected = reload(sichuan, zhang)
    assert (rejected.status, rejected.rejection_reason, rejected.holds_seat) == (
        "rejected",
        "毕业证书照片不清晰",
        False,
    )
    assert rejected.session.seats_taken == 0
    assert event_actions(sichuan, zhang) == ["submit", "reject"]
    html = operator.get(f"/review/{zhang.pk}/").content.decode()
    assert 'id="rejection-reason">毕业证书照片不清晰<' in html
    assert "<td>不通过</td><td>单位审核</td><td>审核不通过</td><td>毕业证书照片不清晰" in block(
        html, "history", "</table>"
    )
    assert 'id="decide"' not in html


# ---------------------------------------------------------------------------------------------------------
# bulk
# ---------------------------------------------------------------------------------------------------------


def test_bulk_approval_approves_what_waits_and_reports_the_rest(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    wang = apply(sichuan, person(sichuan, "王芳"))
    liu = apply(sichuan, person(sichuan, "刘洋"))
    with schema_context("sichuan"):
        application_review(
            rules_version=rules_current_version().number,
            application_id=liu.pk,
            actor=sichuan.operator,
            approve=False,
            reason="重复报名",
        )
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(
        "/review/bulk/?status=all",
        {"application_ids": [zhang.pk, wang.pk, liu.pk], "decision": "approve", "reason": ""},
    )

    assert (response.status_code, response["Location"]) == (302, "/review/?status=all")
    assert [reload(sichuan, item).status for item in (zhang, wang, liu)] == [
        "approved",
        "approved",
        "rejected",
    ]
    html = operator.get(response["Location"]).content.decode()
    assert messages_of(html) == ["已通过 2 条；1 条未处理：刘洋 — 该报名不在审核中"]
    assert event_actions(sichuan, liu) == ["submit", "reject"]


def test_bulk_rejection_without_a_reason_changes_nothing(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    wang = apply(sichuan, person(sichuan, "王芳"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(
        "/review/bulk/", {"application_ids": [zhang.pk, wang.pk], "decision": "reject", "reason": " "}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<li>请填写不通过的原因</li>" in block(html, "bulk-reason-errors", "</div>")
    assert f'name="application_ids" value="{zhang.pk}" aria-label="选择 张伟" checked>' in html
    assert [reload(sichuan, item).status for item in (zhang, wang)] == ["company_review", "company_review"]
    assert event_actions(sichuan, zhang) == event_actions(sichuan, wang) == ["submit"]


def test_bulk_ids_of_another_company_are_reported_as_not_found_and_left_alone(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    chen = apply(sichuan, person(sichuan, "陈静", company=sichuan.other_company))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post("/review/bulk/", {"application_ids": [zhang.pk, chen.pk], "decision": "approve"})

    html = operator.get(response["Location"]).content.decode()
    assert messages_of(html) == [f"已通过 1 条；1 条未处理：报名 {chen.pk} — 报名不存在"]
    assert [reload(sichuan, item).status for item in (zhang, chen)] == ["approved", "company_review"]


# ---------------------------------------------------------------------------------------------------------
# the company corrects data (修改资料)
# ---------------------------------------------------------------------------------------------------------


def test_a_correction_the_rules_refuse_is_shown_next_to_its_field_and_changes_nothing(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(
        f"/review/{zhang.pk}/correct/", {"major": "土木工程", "exam_type": "nosuch", "with_materials": "no"}
    )

    assert response.status_code == 200
    field = block(response.content.decode(), "correct-exam_type", "</div>")
    assert "考试类型不能选择「nosuch」，请从选项中选择" in field
    unchanged = reload(sichuan, zhang)
    assert unchanged.answers == {"education": "bachelor", "major": "工程管理", "exam_type": "normal"}
    assert (unchanged.with_materials, unchanged.fee_fen) == (False, 80000)
    assert event_actions(sichuan, zhang) == ["submit"]


def test_a_correction_saves_the_new_answers_and_records_old_and_new(sichuan):
    zhang = apply(sichuan, person(sichuan, "张伟"))
    operator = staff_client(HOST_A, "op_a")

    response = operator.post(
        f"/review/{zhang.pk}/correct/",
        # The education comes from the profile: the read-only field's posted value is ignored.
        {"education": "doctor", "major": "土木工程", "exam_type": "normal", "with_materials": "yes"},
    )

    assert (response.status_code, response["Location"]) == (302, f"/review/{zhang.pk}/")
    corrected = reload(sichuan, zhang)
    assert corrected.answers == {"education": "bachelor", "major": "土木工程", "exam_type": "normal"}
    assert (corrected.status, corrected.with_materials, corrected.fee_fen) == ("company_review", True, 92000)
    with schema_context("sichuan"):
        event = ApplicationEvent.objects.get(application=zhang, action="correct")
        assert event.changes == {"major": ["工程管理", "土木工程"], "with_materials": [False, True]}
    history = block(operator.get(f"/review/{zhang.pk}/").content.decode(), "history", "</table>")
    assert '<div class="change">所学专业：工程管理 → 土木工程</div>' in history
    assert '<div class="change">培训资料：不购买 → 购买</div>' in history


# ---------------------------------------------------------------------------------------------------------
# the association step, in the console
# ---------------------------------------------------------------------------------------------------------


def test_staff_reviewers_decide_the_association_step_in_the_console(sichuan):
    with schema_context("sichuan"):
        StaffFactory(username="shenhe", staff_roles=[StaffRole.REVIEWER])
        session = _open_session("jianli_review", code="2026-1", unit_code="jianli")
    zhang = apply(sichuan, person(sichuan, "张伟"), session)
    wang = apply(sichuan, person(sichuan, "王芳"), session)
    liu = apply(sichuan, person(sichuan, "刘洋"), session)
    reviewer = staff_client(HOST_A, "shenhe")

    approved = reviewer.post(f"/review/{wang.pk}/approve/")
    refused = staff_client(HOST_A, "op_a").post(f"/review/{zhang.pk}/approve/")
    html = reviewer.get("/review/").content.decode()

    assert approved.status_code == 302 and reload(sichuan, wang).status == "approved"
    assert refused.status_code == 200 and "您无权审核该报名" in refused.content.decode()
    assert '<nav class="console">' in html and 'href="/review/" class="active"' in html
    assert tabs(html) == {
        "association_review": ("待协会审核", 2),
        "approved": ("审核通过", 1),
        "all": ("全部", 3),
    }
    assert names(html) == ["张伟", "刘洋"]
    assert '<td class="fee">500.00</td>' in block(html, f"application-{liu.pk}", "</tr>")
    assert names(reviewer.get("/review/", {"status": "approved"}).content.decode()) == ["王芳"]
    assert reload(sichuan, zhang).status == "association_review"


# ---------------------------------------------------------------------------------------------------------
# training institutions
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def henan_in_gansu(tenant_gansu, django_capture_on_commit_callbacks):
    """henan's rules (cities and training institutions) in the gansu tenant, with a one-page program the
    institution confirms before the association reviews it."""
    data = rules_to_data(load_rules_file(CONFIGS / "henan.toml"))
    data["programs"].append(
        {
            "code": "safety_officer",
            "name": "安全员培训",
            "channel": "self_only",
            "review_chain": ["institution", "association"],
        }
    )
    _publish("gansu", data, django_capture_on_commit_callbacks)
    with schema_context("gansu"):
        User.objects.create_user(
            "jigou_zz", PASSWORD, kind=UserKind.INSTITUTION, institution_code="zz_jianshe", name="郑州中心"
        )
        own = _open_session(
            "safety_officer", code="ZZ-1", unit_code="zhengzhou", institution_code="zz_jianshe"
        )
        other = _open_session(
            "safety_officer", code="KF-1", unit_code="kaifeng", institution_code="kf_jianshe"
        )
        applications = []
        for number, (name, session) in enumerate([("赵磊", own), ("孙丽", other)], start=1):
            id_number = valid_id_number("410102", "19880808", f"{number:03d}")
            user = User.objects.create_user(
                f"student{number}", PASSWORD, kind=UserKind.PERSON, id_number=id_number
            )
            PersonProfile.objects.create(user=user, name=name, id_number=id_number)
            applications.append(
                application_submit(
                    rules=rules_current(),
                    rules_version=rules_current_version().number,
                    session_id=session.pk,
                    person=user,
                    actor=user,
                    channel="self",
                    submission=engine.Submission(
                        answers={}, documents=frozenset(), pledges={}, with_materials=None
                    ),
                )
            )
    return applications


def test_an_institution_reviews_only_its_own_sessions_applications(henan_in_gansu):
    zhao, sun = henan_in_gansu
    institution = staff_client(HOST_GANSU, "jigou_zz")

    html = institution.get("/review/").content.decode()
    approved = institution.post(f"/review/{zhao.pk}/approve/")

    assert names(html) == ["赵磊"]
    assert tabs(html) == {"institution_review": ("待机构确认", 1), "all": ("全部", 1)}
    assert '<nav class="console">' not in html
    assert approved.status_code == 302
    assert institution.get(f"/review/{sun.pk}/").status_code == 404
    assert institution.post(f"/review/{sun.pk}/approve/").status_code == 404
    with schema_context("gansu"):
        assert Application.objects.get(pk=zhao.pk).status == "association_review"
        assert Application.objects.get(pk=sun.pk).status == "institution_review"

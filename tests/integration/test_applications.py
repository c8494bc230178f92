"""Applying on the site: the one-page form (sichuan), the resumable wizard (henan), a company enrolling its
people (shanghai), withdraw, resubmit, the waiting list. Every refusal changes nothing; the look-alike
tenant sees nothing of the other's applications."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from registration.models import Application, ApplicationEvent, PledgeAcceptance, TrainingSession
from registration.services import SessionInput, application_review, program_create, session_create
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.documents.services import document_upload
from tenant_configs.selectors import rules_current, rules_current_version
from tests.conftest import host_client
from tests.factories import UserFactory
from tests.ids import valid_id_number
from tests.unit.test_document_checks import photo_jpeg

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _session(
    code: str, *, capacity: int = 10, program: str, waiting_list: bool = False, **extra
) -> TrainingSession:
    rules = rules_current()
    admin = User.objects.get(username="admin")
    opened = program_create(rules=rules, code=program, actor=admin)
    return session_create(
        rules=rules,
        program=opened,
        actor=admin,
        data=SessionInput(
            code=code,
            name=f"{code}期",
            capacity=capacity,
            opens_at=extra.pop("opens_at", NOW - timedelta(days=1)),
            closes_at=extra.pop("closes_at", NOW + timedelta(days=10)),
            waiting_list=waiting_list,
            **extra,
        ),
    )


def _person(
    username: str, *, company: Company | None = None, verified: bool = True, serial: str = "001"
) -> User:
    user = UserFactory(username=username, kind=UserKind.PERSON)
    user.id_number = valid_id_number("510104", "19900101", serial)
    user.real_name_verified_at = NOW if verified else None
    user.save()
    PersonProfile.objects.create(
        user=user, name=f"学员{serial}", id_number=user.id_number, company=company, education="bachelor"
    )
    return user


def _login(host: str, username: str):
    client = host_client(host)
    with schema_context(host.split(".")[0]):
        client.force_login(User.objects.get(username=username))
    return client


def _image(name: str = "a.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_jpeg(), content_type="image/jpeg")


SICHUAN_FORM = {
    "education": "bachelor",
    "major": "土木工程",
    "with_materials": "yes",
    "pledge_personal_pledge": "1",
}


@pytest.fixture
def sichuan_person(tenant_a):
    with schema_context("sichuan"):
        company = Company.objects.create(name="成都监理有限公司", uscc="91510100MA61234567")
        operator = UserFactory(username="cd-operator", kind=UserKind.COMPANY, company=company)
        person = _person("zhangsan", company=company)
        session = _session("2022-01", program="jianli_2022", unit_code="jianli")
    return {"person": person, "session": session, "company": company, "operator": operator}


def _apply_sichuan(client, session_id: int, **changes):
    data = {**SICHUAN_FORM, "doc_id_card": _image("id.jpg"), "doc_diploma": _image("diploma.jpg"), **changes}
    return client.post(
        f"/training/sessions/{session_id}/apply/", {k: v for k, v in data.items() if v is not None}
    )


def test_a_sichuan_person_applies_with_documents_materials_and_the_pledge(sichuan_person):
    client = _login("sichuan.localhost", "zhangsan")

    response = _apply_sichuan(client, sichuan_person["session"].pk)

    assert response.status_code == 302
    with schema_context("sichuan"):
        application = Application.objects.get()
        assert (application.status, application.channel, application.company_id) == (
            "company_review",
            "self",
            sichuan_person["company"].pk,
        )
        assert application.fee_fen == 80000 + 12000 and application.with_materials is True
        assert application.answers == {"education": "bachelor", "major": "土木工程"}
        assert sorted(application.documents.values_list("key", flat=True)) == ["diploma", "id_card"]
        pledge = PledgeAcceptance.objects.get(application=application)
        assert (pledge.key, pledge.version, pledge.accepted_by_id) == (
            "personal_pledge",
            1,
            application.person_id,
        )
        assert pledge.text == rules_current().program("jianli_2022").pledges[0].text
        assert application.rules_version == rules_current_version().number
        assert TrainingSession.objects.get().seats_taken == 1
        assert PersonProfile.objects.get(user=application.person).first_enrolled_at is not None
    page = client.get(response["Location"]).content.decode()
    assert "待企业审核" in page and "个人承诺书" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pledge_personal_pledge": None}, "请阅读并同意《个人承诺书》"),
        ({"education": "kindergarten"}, "学历不能选择「kindergarten」"),
        ({"with_materials": None}, "请选择是否购买培训资料"),
        ({"major": ""}, "请填写所学专业"),
        ({"doc_diploma": None}, "请上传毕业证书"),
    ],
)
def test_bad_input_is_refused_with_its_message_and_nothing_is_written(sichuan_person, changes, message):
    with schema_context("sichuan"):
        # A profile-linked field takes the profile's value; with none there, the form's answer is checked.
        PersonProfile.objects.update(education="")
    client = _login("sichuan.localhost", "zhangsan")

    response = _apply_sichuan(client, sichuan_person["session"].pk, **changes)

    assert response.status_code == 422 and message in response.content.decode()
    with schema_context("sichuan"):
        assert not Application.objects.exists()
        assert TrainingSession.objects.get().seats_taken == 0


def test_a_person_the_rules_exclude_is_refused(sichuan_person):
    with schema_context("sichuan"):
        _person("nocompany", serial="002")
        _person("unverified", company=sichuan_person["company"], verified=False, serial="003")

    outsider = _apply_sichuan(_login("sichuan.localhost", "nocompany"), sichuan_person["session"].pk)
    unverified = _apply_sichuan(_login("sichuan.localhost", "unverified"), sichuan_person["session"].pk)

    assert "须先加入所在单位" in outsider.content.decode()
    assert "报名前须先完成实名认证" in unverified.content.decode()
    with schema_context("sichuan"):
        assert not Application.objects.exists()


def test_outside_the_window_and_twice_to_one_course_are_refused(sichuan_person):
    with schema_context("sichuan"):
        closed = _session(
            "2022-00",
            program="jianli_2022",
            unit_code="jianli",
            closes_at=NOW - timedelta(hours=1),
            opens_at=NOW - timedelta(days=5),
        )
        second = _session("2022-02", program="jianli_2022", unit_code="jianli")
    client = _login("sichuan.localhost", "zhangsan")

    assert _apply_sichuan(client, sichuan_person["session"].pk).status_code == 302
    late = _apply_sichuan(client, closed.pk)
    assert late.status_code == 422 and "报名已截止" in late.content.decode()
    twice = _apply_sichuan(client, second.pk)

    assert "同一课程每人只能报名一次" in twice.content.decode()
    with schema_context("sichuan"):
        assert Application.objects.count() == 1
        assert TrainingSession.objects.get(pk=closed.pk).seats_taken == 0


def test_the_company_rejects_the_person_corrects_and_resubmits(sichuan_person):
    client = _login("sichuan.localhost", "zhangsan")
    _apply_sichuan(client, sichuan_person["session"].pk)
    with schema_context("sichuan"):
        application = Application.objects.get()
        application_review(
            rules_version=1,
            application_id=application.pk,
            actor=sichuan_person["operator"],
            approve=False,
            reason="毕业证书不清晰",
        )
        assert TrainingSession.objects.get().seats_taken == 0

    detail = client.get(f"/training/applications/{application.pk}/").content.decode()
    assert "毕业证书不清晰" in detail and "修改并重新提交" in detail
    response = client.post(
        f"/training/applications/{application.pk}/resubmit/",
        {**SICHUAN_FORM, "major": "工程管理", "doc_diploma": _image("clear.jpg")},
    )

    assert response.status_code == 302
    with schema_context("sichuan"):
        application.refresh_from_db()
        assert (application.status, application.rejection_reason) == ("company_review", "")
        assert application.answers["major"] == "工程管理"
        assert list(application.events.values_list("action", flat=True)) == ["submit", "reject", "resubmit"]
        assert TrainingSession.objects.get().seats_taken == 1


def test_withdrawing_frees_the_seat_and_promotes_the_first_waiting(sichuan_person):
    with schema_context("sichuan"):
        session = _session(
            "2022-09", capacity=1, program="jianli_2022", unit_code="jianli", waiting_list=True
        )
        _person("lisi", company=sichuan_person["company"], serial="004")
    first, waiting = _login("sichuan.localhost", "zhangsan"), _login("sichuan.localhost", "lisi")
    _apply_sichuan(first, session.pk)
    _apply_sichuan(waiting, session.pk)
    with schema_context("sichuan"):
        assert dict(Application.objects.values_list("person__username", "status")) == {
            "zhangsan": "company_review",
            "lisi": "waitlisted",
        }
        mine = Application.objects.get(person__username="zhangsan")

    response = first.post(f"/training/applications/{mine.pk}/withdraw/")

    assert response.status_code == 302
    with schema_context("sichuan"):
        assert dict(Application.objects.values_list("person__username", "status")) == {
            "zhangsan": "withdrawn",
            "lisi": "company_review",
        }
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == 1
        promoted = ApplicationEvent.objects.get(action="promote")
        assert promoted.application.person.username == "lisi" and promoted.reason == "候补转正：有名额释放"


def test_a_person_cannot_read_or_withdraw_another_persons_application(sichuan_person, tenant_b):
    _apply_sichuan(_login("sichuan.localhost", "zhangsan"), sichuan_person["session"].pk)
    with schema_context("sichuan"):
        _person("wangwu", company=sichuan_person["company"], serial="005")
        application = Application.objects.get()
    with schema_context("sichuanb"):
        _person("zhangsan", serial="001")
    other = _login("sichuan.localhost", "wangwu")
    twin = _login("sichuanb.localhost", "zhangsan")

    assert other.get(f"/training/applications/{application.pk}/").status_code == 404
    assert other.post(f"/training/applications/{application.pk}/withdraw/").status_code == 404
    assert other.get(f"/training/applications/{application.pk}/form.pdf").status_code == 404
    assert twin.get(f"/training/applications/{application.pk}/").status_code == 404
    with schema_context("sichuan"):
        assert Application.objects.get().status == "company_review"


def test_withdrawal_is_refused_where_the_rules_say_never(tenant_a):
    with schema_context("sichuan"):
        session = _session("2022-05", program="jianli_2022", unit_code="jianli")
        company = Company.objects.create(name="甲公司")
        _person("zhaoliu", company=company, serial="006")
    client = _login("sichuan.localhost", "zhaoliu")
    _apply_sichuan(client, session.pk)
    with schema_context("sichuan"):
        application = Application.objects.get()
        application.status = "paid"  # past payment: sichuan allows withdrawal only before it
        application.save(update_fields=["status"])

    client.post(f"/training/applications/{application.pk}/withdraw/")

    with schema_context("sichuan"):
        assert Application.objects.get().status == "paid"
        assert TrainingSession.objects.get().seats_taken == 1


# ---------------------------------------------------------------------------------------------------------
# henan: the wizard
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def henan(db):
    with schema_context("henan"):
        session = _session(
            "ZZ-2026-01", program="new_certificate", institution_code="zz_jianshe", unit_code="zhengzhou"
        )
        person = _person("henan-person", serial="007")
        rules = rules_current()
        document_upload(
            owner=person,
            key="photo",
            spec=rules.identity.profile_photo,
            data=photo_jpeg(),
            filename="me.jpg",
            review_required=False,
        )
    return {"session": session, "person": person}


HENAN_STEPS = [
    ("notice", {"pledge_notice": "1"}),
    ("status", {"employment_status": "employed"}),
    ("city", {"city": "zhengzhou"}),
    ("institution", {"institution": "zz_jianshe", "employer": "郑州建工集团", "education": "college"}),
    ("major_post", {"major_post": "standards"}),
    ("resume", {"resume": "2018-2026 郑州建工集团 施工员"}),
    ("pledge", {"pledge_personal_pledge": "1"}),
    ("id_front", {"doc_id_front": "image"}),
    ("id_back", {"doc_id_back": "image"}),
    ("diploma", {"doc_diploma": "image"}),
]


def _wizard_post(client, program_id: int, step: str, data: dict):
    data = {key: _image() if value == "image" else value for key, value in data.items()}
    return client.post(f"/training/programs/{program_id}/wizard/{step}/", data)


def test_the_henan_wizard_saves_each_step_resumes_and_submits_to_the_institution(henan):
    client = _login("henan.localhost", "henan-person")
    program_id = henan["session"].program_id
    for step, data in HENAN_STEPS[:4]:
        assert _wizard_post(client, program_id, step, data).status_code == 302

    # Leaving and coming back resumes at the step after the last one saved.
    resumed = client.get(f"/training/programs/{program_id}/wizard/")
    assert resumed["Location"].endswith("/wizard/major_post/")
    # A later step's address leads back to where the draft stands.
    assert client.get(f"/training/programs/{program_id}/wizard/diploma/")["Location"].endswith("/major_post/")
    for step, data in HENAN_STEPS[4:]:
        assert _wizard_post(client, program_id, step, data).status_code == 302
    submitted = _wizard_post(client, program_id, "submit", {})

    assert submitted.status_code == 302
    with schema_context("henan"):
        application = Application.objects.get()
        assert (application.status, application.session_id) == ("institution_review", henan["session"].pk)
        assert (
            application.answers["institution"] == "zz_jianshe" and application.answers["city"] == "zhengzhou"
        )
        assert sorted(application.pledges.values_list("key", flat=True)) == ["notice", "personal_pledge"]
        assert sorted(application.documents.values_list("key", flat=True)) == [
            "diploma",
            "id_back",
            "id_front",
        ]
    pdf = client.get(f"/training/applications/{application.pk}/form.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/training/applications/{application.pk}/pledge.pdf").content.startswith(b"%PDF")


def test_a_wizard_step_with_bad_input_is_not_saved(henan):
    client = _login("henan.localhost", "henan-person")
    program_id = henan["session"].program_id
    _wizard_post(client, program_id, "notice", {"pledge_notice": "1"})

    response = _wizard_post(client, program_id, "status", {"employment_status": "retired"})

    assert response.status_code == 422 and "本人就业状态不能选择「retired」" in response.content.decode()
    with schema_context("henan"):
        draft = Application.objects.get()
        assert (draft.status, draft.wizard_step) == ("draft", "status")
        assert "employment_status" not in draft.answers


def test_an_institution_in_another_city_is_not_accepted(henan):
    client = _login("henan.localhost", "henan-person")
    program_id = henan["session"].program_id
    for step, data in HENAN_STEPS[:3]:
        _wizard_post(client, program_id, step, data)
    with schema_context("henan"):
        other_city = next(
            i.code for i in rules_current().organizations.institutions if i.city_code != "zhengzhou"
        )

    response = _wizard_post(
        client,
        program_id,
        "institution",
        {"institution": other_city, "employer": "x", "education": "college"},
    )

    assert response.status_code == 422
    with schema_context("henan"):
        assert "institution" not in Application.objects.get().answers


def test_the_henan_applicant_deletes_before_the_institution_confirms_but_not_after(henan):
    client = _login("henan.localhost", "henan-person")
    program_id = henan["session"].program_id
    for step, data in [*HENAN_STEPS, ("submit", {})]:
        _wizard_post(client, program_id, step, data)
    with schema_context("henan"):
        application = Application.objects.get()
        institution = UserFactory(username="zz-jg", kind=UserKind.INSTITUTION, institution_code="zz_jianshe")
        application_review(rules_version=1, application_id=application.pk, actor=institution, approve=True)

    client.post(f"/training/applications/{application.pk}/withdraw/")

    with schema_context("henan"):
        application.refresh_from_db()
        assert application.status == "association_review"


# ---------------------------------------------------------------------------------------------------------
# shanghai: a company enrols its people; one enrolment per person per course, whichever channel came first
# ---------------------------------------------------------------------------------------------------------


def test_a_shanghai_company_enrols_its_people_and_each_refusal_is_reported(db):
    with schema_context("shanghai"):
        session = _session("SH-01", program="zhuanxiang")
        company = Company.objects.create(name="上海勘察设计院", uscc="91310000MA1K123456")
        UserFactory(username="sh-operator", kind=UserKind.COMPANY, company=company)
        ready, no_photo, self_enrolled = (
            _person(f"sh{number}", company=company, serial=f"01{number}") for number in range(3)
        )
        outsider = _person("sh-outsider", serial="020")
        spec = rules_current().identity.profile_photo
        for person in (ready, self_enrolled):
            document_upload(
                owner=person,
                key="photo",
                spec=spec,
                data=photo_jpeg(),
                filename="p.jpg",
                review_required=False,
            )
    own = _login("shanghai.localhost", "sh2")
    assert (
        own.post(f"/training/sessions/{session.pk}/apply/", {"shipping_address": "上海市徐汇区"}).status_code
        == 302
    )
    client = _login("shanghai.localhost", "sh-operator")

    response = client.post(
        f"/training/sessions/{session.pk}/enrol/",
        {
            "people": [ready.pk, no_photo.pk, self_enrolled.pk, outsider.pk],
            "shipping_address": "上海市黄浦区",
        },
    )

    page = response.content.decode()
    assert response.status_code == 200 and "已报名 1 人" in page
    assert "报名前须先上传1寸证件照" in page and "同一课程每人只能报名一次" in page
    with schema_context("shanghai"):
        assert dict(Application.objects.values_list("person__username", "channel")) == {
            "sh0": "company",
            "sh2": "self",
        }
        assert Application.objects.get(person=ready).status == "approved"
        assert TrainingSession.objects.get().seats_taken == 2
    assert "sh-outsider" not in page


def test_enrolling_requires_a_company_account(db):
    with schema_context("shanghai"):
        session = _session("SH-02", program="zhuanxiang")
        _person("sh-self", serial="030")

    response = _login("shanghai.localhost", "sh-self").get(f"/training/sessions/{session.pk}/enrol/")

    assert response.status_code == 403


# ---------------------------------------------------------------------------------------------------------
# staff manage a session's seats; the waiting list follows
# ---------------------------------------------------------------------------------------------------------


def _full_session_with_one_waiting(sichuan_person) -> TrainingSession:
    with schema_context("sichuan"):
        session = _session("2022-W", capacity=1, program="jianli_2022", unit_code="jianli", waiting_list=True)
        _person("waiting", company=sichuan_person["company"], serial="040")
    _apply_sichuan(_login("sichuan.localhost", "zhangsan"), session.pk)
    _apply_sichuan(_login("sichuan.localhost", "waiting"), session.pk)
    return session


def _edit(session: TrainingSession, **changes):
    from tests.conftest import staff_client

    data = {"name": session.name, "capacity": session.capacity, "opens_at": "", "closes_at": "", **changes}
    return staff_client("sichuan.localhost").post(
        f"/console/programs/{session.program_id}/sessions/{session.pk}/", data
    )


def test_more_seats_promote_the_waiting_list_in_order(sichuan_person):
    session = _full_session_with_one_waiting(sichuan_person)

    response = _edit(session, capacity=2, course_type="监理")

    assert response.status_code == 302
    with schema_context("sichuan"):
        session.refresh_from_db()
        assert (session.capacity, session.seats_taken, session.course_type) == (2, 2, "监理")
        promoted = Application.objects.get(person__username="waiting")
        assert (promoted.status, promoted.holds_seat) == ("company_review", True)
        assert promoted.events.last().reason == "候补转正：班次增加了名额"


def test_fewer_seats_than_taken_are_refused_and_nothing_changes(sichuan_person):
    session = _full_session_with_one_waiting(sichuan_person)
    with schema_context("sichuan"):
        TrainingSession.objects.filter(pk=session.pk).update(capacity=3)
        _person("third", company=sichuan_person["company"], serial="041")
    _apply_sichuan(_login("sichuan.localhost", "third"), session.pk)
    with schema_context("sichuan"):
        session.refresh_from_db()
        assert session.seats_taken == 2

    response = _edit(session, capacity=1)

    assert "已有 2 人占用名额，计划人数不能少于此数" in response.content.decode()
    with schema_context("sichuan"):
        session.refresh_from_db()
        assert (session.capacity, session.seats_taken) == (3, 2)


def test_people_still_waiting_when_the_window_closes_are_told_it_expired(sichuan_person, tenant_b):
    from registration.tasks import applications_expire_current_tenant

    session = _full_session_with_one_waiting(sichuan_person)
    with schema_context("sichuan"):
        TrainingSession.objects.filter(pk=session.pk).update(closes_at=timezone.now() - timedelta(minutes=1))

        assert applications_expire_current_tenant() == 1
        assert applications_expire_current_tenant() == 0  # idempotent

        waiting = Application.objects.get(person__username="waiting")
        assert waiting.status == "expired" and waiting.events.last().reason == "报名已截止，候补未能转正"
        assert Application.objects.get(person__username="zhangsan").status == "company_review"
    with schema_context("sichuanb"):
        assert applications_expire_current_tenant() == 0

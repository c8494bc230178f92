"""henan's continuing education (继续教育) keyed by certificate number, end to end on real PostgreSQL:
enrolling through the wizard and the API names one of the applicant's own, not revoked certificates (and
links it); hours typed in by staff or credited by learning are summed per cycle; 我的证书 shows them.

The look-alike is gansu running henan's rules: the same person (same ID number and username) holds a
certificate with the same registry number there, so a lookup that forgets the tenant finds the twin.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

from certificates.continuing_education import (
    ContinuingEducationError,
    ce_hours_from_learning,
    ce_hours_record,
)
from certificates.models import Certificate, ContinuingEducationHours
from certificates.selectors import ce_cycle, ce_progress, certificate_for_holder_by_number
from certificates.services import certificate_issue, certificate_revoke
from learning.models import Course, CourseCompletion, Lesson
from learning.services import heartbeat_record, watch_start
from registration import rules as engine
from registration.models import Application, TrainingSession
from registration.services import (
    ApplicationRefused,
    SessionInput,
    application_submit,
    program_create,
    session_create,
)
from shared.accounts.models import PersonProfile, StaffRole, User, UserKind
from shared.documents.services import document_upload
from shared.models import AuditEntry
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tenant_configs.selectors import rules_current, rules_current_version
from tenant_configs.services import rules_publish
from tests.conftest import CONFIGS, host_client, staff_client
from tests.ids import valid_id_number
from tests.unit.test_document_checks import photo_jpeg

pytestmark = pytest.mark.django_db
PROGRAM = "continuing_education"
NOT_FOUND = "证书编号不存在或不是本人的证书"
HOSTS = {"henan": "henan.localhost", "gansu": "gansu.localhost"}
ANSWERS = {
    "major_post": "standards",
    "city": "zhengzhou",
    "institution": "zz_jianshe",
    "resume": "2018-2026 郑州建工集团 标准员",
}


# --- fixtures -------------------------------------------------------------------------------------


def _person(username: str, serial: str) -> User:
    id_number = valid_id_number("410102", "19880808", serial)
    user = User.objects.create_user(
        username, None, kind=UserKind.PERSON, name=f"学员{serial}", id_number=id_number
    )
    PersonProfile.objects.create(user=user, name=f"学员{serial}", id_number=id_number, education="college")
    document_upload(
        owner=user,
        key="photo",
        spec=rules_current().identity.profile_photo,
        data=photo_jpeg(),
        filename="me.jpg",
        review_required=False,
    )
    return user


def _issue(person: User, subject: str = "") -> Certificate:
    return certificate_issue(
        rules=rules_current(),
        kind_code="qualification",
        holder=person,
        actor=User.objects.get(username="admin"),
        subject=subject,
    )


def _open_session() -> TrainingSession:
    rules = rules_current()
    admin = User.objects.get(username="admin")
    now = timezone.now()
    return session_create(
        rules=rules,
        program=program_create(rules=rules, code=PROGRAM, actor=admin),
        actor=admin,
        data=SessionInput(
            code="CE-ZZ-01",
            name="郑州继续教育一期",
            capacity=30,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=10),
            institution_code="zz_jianshe",
            unit_code="zhengzhou",
        ),
    )


@pytest.fixture
def henan(db, tenant_gansu, django_capture_on_commit_callbacks):
    """henan: 王强 holds a 合格证 (and a revoked one), 李娜 holds her own; gansu runs henan's rules with
    王强's twin holding the same number, and 陈晨 who holds none."""
    data = rules_to_data(load_rules_file(CONFIGS / "henan.toml"))
    data["association"]["slug"] = "gansu"
    with schema_context("gansu"), django_capture_on_commit_callbacks(execute=True):
        rules_publish(rules=load_rules_data(data, source="henan rules in gansu"), actor=None)
    made = {}
    for schema in ("henan", "gansu"):
        with schema_context(schema), django_capture_on_commit_callbacks(execute=True):
            wang = _person("wangqiang", "011")
            own = _issue(wang)
            revoked = _issue(wang, subject="old")
            certificate_revoke(
                certificate_id=revoked.pk, actor=User.objects.get(username="admin"), reason="证书信息有误"
            )
            other_person = _person("lina" if schema == "henan" else "chenchen", "022")
            other = _issue(other_person) if schema == "henan" else None
            made[schema] = {
                "session": _open_session(),
                "wang": wang,
                "own": own,
                "revoked": revoked,
                "other_person": other_person,
                "other": other,
            }
    connection.set_schema_to_public()
    assert made["henan"]["own"].number == made["gansu"]["own"].number  # the look-alike's twin number
    return made


def _login(schema: str, user: User):
    client = host_client(HOSTS[schema])
    with schema_context(schema):
        client.force_login(user)
    connection.set_schema_to_public()
    return client


def _state(schema: str) -> tuple:
    """What a refusal must leave alone: applications (with their drafts' answers), hours, seats."""
    with schema_context(schema):
        return (
            sorted(Application.objects.values_list("pk", "status", "wizard_step", "certificate_id")),
            sorted(str(answers) for answers in Application.objects.values_list("answers", flat=True)),
            ContinuingEducationHours.objects.count(),
            sorted(TrainingSession.objects.values_list("pk", "seats_taken")),
        )


def _wizard(client, program_id: int, step: str, data: dict):
    return client.post(f"/training/programs/{program_id}/wizard/{step}/", data)


def _through_the_wizard(client, program_id: int, number: str):
    """Every step after the number, then the confirmation: the last response."""
    first = _wizard(client, program_id, "certificate_number", {"certificate_number": number})
    if first.status_code != 302:
        return first
    _wizard(client, program_id, "major_post", {"major_post": ANSWERS["major_post"]})
    _wizard(client, program_id, "institution", {"city": "zhengzhou", "institution": "zz_jianshe"})
    _wizard(client, program_id, "resume", {"resume": ANSWERS["resume"]})
    return _wizard(client, program_id, "confirm", {})


def _submit(schema: str, person: User, number: str, *, session: TrainingSession) -> Application:
    with schema_context(schema):
        return application_submit(
            rules=rules_current(),
            rules_version=rules_current_version().number,
            session_id=session.pk,
            person=person,
            actor=person,
            channel="self",
            submission=engine.Submission(
                answers={**ANSWERS, "certificate_number": number},
                documents=frozenset(),
                pledges={},
                with_materials=None,
            ),
        )


# --- enrolling by certificate number ---------------------------------------------------------------


def test_the_wizard_enrols_with_the_persons_own_certificate_and_links_it(henan):
    data = henan["henan"]
    client = _login("henan", data["wang"])

    response = _through_the_wizard(client, data["session"].program_id, data["own"].number.lower())

    assert response.status_code == 302
    with schema_context("henan"):
        application = Application.objects.get(person=data["wang"])
        assert application.status == "institution_review"
        assert application.certificate_id == data["own"].pk
        assert application.answers["certificate_number"] == data["own"].number.lower()
        assert application.session_id == data["session"].pk
    assert _state("gansu")[0] == []


@pytest.mark.parametrize("whose", ["another_persons", "unknown", "revoked"])
def test_a_wizard_number_that_is_not_the_persons_own_valid_certificate_is_refused_at_its_step(henan, whose):
    data = henan["henan"]
    number = {
        "another_persons": data["other"].number,
        "unknown": "HA20990000001",
        "revoked": data["revoked"].number,
    }[whose]
    client = _login("henan", data["wang"])
    before = {schema: _state(schema) for schema in ("henan", "gansu")}

    response = _wizard(
        client, data["session"].program_id, "certificate_number", {"certificate_number": number}
    )

    assert response.status_code == 422
    assert NOT_FOUND in response.content.decode()
    assert {schema: _state(schema) for schema in ("henan", "gansu")} == before


def test_a_draft_whose_certificate_was_revoked_meanwhile_is_refused_on_confirm(
    henan, django_capture_on_commit_callbacks
):
    data = henan["henan"]
    client = _login("henan", data["wang"])
    program_id = data["session"].program_id
    for step, values in [
        ("certificate_number", {"certificate_number": data["own"].number}),
        ("major_post", {"major_post": "standards"}),
        ("institution", {"city": "zhengzhou", "institution": "zz_jianshe"}),
        ("resume", {"resume": ANSWERS["resume"]}),
    ]:
        assert _wizard(client, program_id, step, values).status_code == 302
    with schema_context("henan"):
        certificate_revoke(
            certificate_id=data["own"].pk, actor=User.objects.get(username="admin"), reason="吊销"
        )
    before = _state("henan")

    response = _wizard(client, program_id, "confirm", {})

    assert response.status_code == 422 and NOT_FOUND in response.content.decode()
    assert _state("henan") == before
    with schema_context("henan"):
        assert Application.objects.get().status == "draft"


def test_the_service_refuses_every_bad_number_with_a_problem_on_the_field_and_writes_nothing(henan):
    data = henan["henan"]
    for number in (data["other"].number, "HA20990000001", data["revoked"].number, ""):
        before = _state("henan")
        with pytest.raises(ApplicationRefused) as refused:
            _submit("henan", data["wang"], number, session=data["session"])
        fields = {problem.field: problem.code for problem in refused.value.problems}
        expected = "field_required" if number == "" else "certificate_not_found"
        assert fields == {"certificate_number": expected}
        assert _state("henan") == before


def test_the_api_enrols_with_an_own_number_and_refuses_another_persons(henan):
    data = henan["henan"]
    with schema_context("henan"):
        token = Token.objects.create(user=data["wang"]).key
    url = f"/api/v1/sessions/{data['session'].pk}/apply/"
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"}

    def apply(number: str, key: str):
        body = {"answers": {**ANSWERS, "certificate_number": number}, "pledges": {}, "with_materials": None}
        return host_client(HOSTS["henan"]).post(
            url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **headers
        )

    before = _state("henan")
    refused = apply(data["other"].number, "k-1")
    assert refused.status_code in (400, 422), refused.content
    assert "certificate_not_found" in refused.content.decode()
    assert NOT_FOUND in refused.content.decode()
    with schema_context("henan"):
        assert Application.objects.count() == len(before[0])
        assert ContinuingEducationHours.objects.count() == before[2]

    accepted = apply(data["own"].number, "k-2")

    assert accepted.status_code == 201, accepted.content
    with schema_context("henan"):
        assert Application.objects.get(person=data["wang"]).certificate_id == data["own"].pk


def test_the_look_alike_tenant_cannot_use_henans_numbers(henan):
    henan_only = henan["henan"]["other"].number  # 李娜's number: no certificate has it in gansu
    gansu = henan["gansu"]
    client = _login("gansu", gansu["other_person"])
    before = {schema: _state(schema) for schema in ("henan", "gansu")}

    response = _wizard(
        client, gansu["session"].program_id, "certificate_number", {"certificate_number": henan_only}
    )

    assert response.status_code == 422 and NOT_FOUND in response.content.decode()
    assert {schema: _state(schema) for schema in ("henan", "gansu")} == before
    with schema_context("gansu"):
        assert certificate_for_holder_by_number(holder=gansu["other_person"], number=henan_only) is None
        # The twin's number is the twin's: it names gansu's certificate, not henan's.
        twin = certificate_for_holder_by_number(holder=gansu["wang"], number=gansu["own"].number)
        assert twin.pk == gansu["own"].pk


# --- hours ----------------------------------------------------------------------------------------


def _academic(schema: str) -> User:
    with schema_context(schema):
        return User.objects.create_user(
            "jiaowu", None, name="教务", kind=UserKind.STAFF, staff_roles=[StaffRole.ACADEMIC]
        )


def test_staff_hours_are_summed_in_the_current_cycle_only(henan):
    data = henan["henan"]
    academic = _academic("henan")
    now = timezone.now()
    with schema_context("henan"):
        rules = rules_current()
        # Issued four years ago: the second three-year cycle is running.
        certificate = certificate_issue(
            rules=rules,
            kind_code="qualification",
            holder=data["wang"],
            actor=academic,
            subject="2022",
            now=now - timedelta(days=4 * 365),
        )
        issued_on = timezone.localdate(certificate.issued_at)
        ce_hours_record(rules=rules, certificate_id=certificate.pk, hours="8", note="面授", actor=academic)
        ce_hours_record(
            rules=rules, certificate_id=certificate.pk, hours=Decimal("2.5"), note="", actor=academic
        )
        # Hours earned in the first cycle (recorded then) do not count for this one.
        ce_hours_record(
            rules=rules,
            certificate_id=certificate.pk,
            hours="10",
            note="上周期",
            actor=academic,
            now=now - timedelta(days=2 * 365),
        )
        # Nor do another certificate's.
        ce_hours_record(rules=rules, certificate_id=data["own"].pk, hours="4", note="", actor=academic)

        hours, required, start, end = ce_progress(rules=rules, certificate=certificate)

        second_start = issued_on.replace(year=issued_on.year + 3)
        assert (hours, required, start) == (Decimal("10.5"), 32, second_start)
        assert end == issued_on.replace(year=issued_on.year + 6) - timedelta(days=1)
        assert ce_progress(rules=rules, certificate=data["own"]).hours == Decimal("4.0")
        assert AuditEntry.objects.filter(action="certificate.ce_hours").count() == 4
    with schema_context("gansu"):
        twin = Certificate.objects.get(pk=henan["gansu"]["own"].pk)
        assert ce_progress(rules=rules_current(), certificate=twin).hours == 0


def test_cycles_step_from_the_issue_date():
    issued = date(2020, 2, 29)
    assert ce_cycle(issued_on=issued, cycle_years=3, on=date(2020, 2, 29)) == (issued, date(2023, 2, 27))
    assert ce_cycle(issued_on=issued, cycle_years=3, on=date(2023, 2, 28)) == (
        date(2023, 2, 28),
        date(2026, 2, 27),
    )
    assert ce_cycle(issued_on=issued, cycle_years=3, on=date(2019, 1, 1)) == (issued, date(2023, 2, 27))


@pytest.mark.parametrize(
    ("hours", "code"),
    [
        ("0", "hours_out_of_range"),
        ("-1", "hours_out_of_range"),
        ("200.1", "hours_out_of_range"),
        ("abc", "hours_invalid"),
        ("1.25", "hours_invalid"),
    ],
)
def test_bad_hours_are_refused_and_nothing_is_written(henan, hours, code):
    data = henan["henan"]
    academic = _academic("henan")
    with schema_context("henan"):
        with pytest.raises(ContinuingEducationError) as refused:
            ce_hours_record(
                rules=rules_current(), certificate_id=data["own"].pk, hours=hours, note="", actor=academic
            )
        assert refused.value.code == code
        assert ContinuingEducationHours.objects.count() == 0
        assert AuditEntry.objects.filter(action="certificate.ce_hours").count() == 0


def test_hours_on_a_revoked_certificate_or_by_a_reviewer_are_refused(henan):
    data = henan["henan"]
    academic = _academic("henan")
    with schema_context("henan"):
        reviewer = User.objects.create_user(
            "shenhe", None, kind=UserKind.STAFF, staff_roles=[StaffRole.REVIEWER]
        )
        with pytest.raises(ContinuingEducationError) as revoked:
            ce_hours_record(
                rules=rules_current(), certificate_id=data["revoked"].pk, hours="8", note="", actor=academic
            )
        with pytest.raises(ContinuingEducationError) as forbidden:
            ce_hours_record(
                rules=rules_current(), certificate_id=data["own"].pk, hours="8", note="", actor=reviewer
            )
        assert (revoked.value.code, forbidden.value.code) == ("certificate_revoked", "forbidden")
        assert ContinuingEducationHours.objects.count() == 0


def test_the_console_records_hours_by_number_and_refuses_bad_input(henan):
    data = henan["henan"]
    client = staff_client(HOSTS["henan"])
    url = "/certificates/console/ce-hours/"
    refusals = [
        ({"number": "HA20990000001", "hours": "8"}, "证书编号不存在"),
        ({"number": data["own"].number, "hours": "0"}, "学时须大于 0 且不超过 200"),
        ({"number": data["own"].number, "hours": "201"}, "学时须大于 0 且不超过 200"),
        ({"number": data["revoked"].number, "hours": "8"}, "该证书已撤销"),
    ]
    for form, message in refusals:
        before = _state("henan")
        response = client.post(url, form)
        assert response.status_code == 422 and message in response.content.decode(), form
        assert _state("henan") == before

    recorded = client.post(url, {"number": data["own"].number, "hours": "8", "note": "2026年面授"})

    assert recorded.status_code == 302
    page = client.get(recorded["Location"]).content.decode()
    assert "8/32 学时" in page and "2026年面授" in page
    with schema_context("henan"):
        row = ContinuingEducationHours.objects.get()
        assert (row.certificate_id, row.hours, row.source) == (data["own"].pk, Decimal("8.0"), "staff")
    # The look-alike's console cannot reach henan's number that it does not hold.
    gansu = staff_client(HOSTS["gansu"])
    before = _state("gansu")
    response = gansu.post(url, {"number": data["other"].number, "hours": "8"})
    assert response.status_code == 422 and "证书编号不存在" in response.content.decode()
    assert _state("gansu") == before


def test_my_certificates_shows_the_cycles_hours_and_the_enrol_link(henan):
    data = henan["henan"]
    academic = _academic("henan")
    with schema_context("henan"):
        ce_hours_record(
            rules=rules_current(), certificate_id=data["own"].pk, hours="8", note="", actor=academic
        )

    page = _login("henan", data["wang"]).get("/certificates/").content.decode()
    twin_page = _login("gansu", henan["gansu"]["wang"]).get("/certificates/").content.decode()

    assert "8/32 学时" in page
    assert (
        f"/training/programs/{data['session'].program_id}/wizard/?certificate_number={data['own'].number}"
        in page
    )
    assert "0/32 学时" in twin_page and "8/32 学时" not in twin_page
    # The link opens the number step with the number filled in.
    client = _login("henan", data["wang"])
    opened = client.get(
        f"/training/programs/{data['session'].program_id}/wizard/?certificate_number={data['own'].number}"
    )
    assert opened.status_code == 302 and "/wizard/certificate_number/" in opened["Location"]
    step = client.get(opened["Location"]).content.decode()
    assert f'value="{data["own"].number}"' in step


# --- hours from learning --------------------------------------------------------------------------


def test_learning_credits_a_completed_courses_hours_once_to_the_linked_certificate(henan):
    data = henan["henan"]
    application = _submit("henan", data["wang"], data["own"].number, session=data["session"])
    with schema_context("henan"):
        Application.objects.filter(pk=application.pk).update(status="approved")
        course = Course.objects.create(program_id=data["session"].program_id, title="2026年继续教育必修课")
        for order, seconds in enumerate((3600 * 2, 1800), start=1):
            Lesson.objects.create(
                course=course,
                title=f"第{order}讲",
                order=order,
                duration_seconds=seconds,
                video="lessons/x.mp4",
                content_type="video/mp4",
                size_bytes=1,
            )
        rules = rules_current()
        assert ce_hours_from_learning(rules=rules, person=data["wang"], course=course) == []  # not completed
        CourseCompletion.objects.create(person=data["wang"], course=course, completed_at=timezone.now())

        first = ce_hours_from_learning(rules=rules, person=data["wang"], course=course)
        again = ce_hours_from_learning(rules=rules, person=data["wang"], course=course)

        assert [(c.certificate_id, c.hours, c.created) for c in first] == [
            (data["own"].pk, Decimal("2.5"), True)
        ]
        assert [c.created for c in again] == [False]
        row = ContinuingEducationHours.objects.get()
        assert (row.source, row.course_id, row.hours) == ("learning", course.pk, Decimal("2.5"))
        assert ce_progress(rules=rules, certificate=data["own"]).hours == Decimal("2.5")
        # Someone else's completion of the course credits nothing to 王强's certificate.
        CourseCompletion.objects.create(
            person=data["other_person"], course=course, completed_at=timezone.now()
        )
        assert ce_hours_from_learning(rules=rules, person=data["other_person"], course=course) == []
        assert ContinuingEducationHours.objects.count() == 1


def test_watching_the_course_to_the_end_credits_its_hours_to_the_certificate(henan):
    """The whole path: an approved continuing-education application (henan takes no payment) entitles the
    person to the program's course; real-time heartbeats complete it; the hours land on the certificate."""

    data = henan["henan"]
    application = _submit("henan", data["wang"], data["own"].number, session=data["session"])
    with schema_context("henan"):
        Application.objects.filter(pk=application.pk).update(status="approved")
        course = Course.objects.create(
            program_id=data["session"].program_id, title="继续教育选修课", is_published=True
        )
        lesson = Lesson.objects.create(
            course=course,
            title="第1讲",
            order=1,
            duration_seconds=30,
            video="lessons/x.mp4",
            content_type="video/mp4",
            size_bytes=1,
        )
        rules = rules_current()
        start = timezone.now()
        session = watch_start(rules=rules, person=data["wang"], lesson=lesson, now=start)
        for seconds in (15, 30):
            heartbeat_record(
                rules=rules,
                person=data["wang"],
                token=session.token,
                position=seconds,
                now=start + timedelta(seconds=seconds),
            )
        assert CourseCompletion.objects.filter(person=data["wang"], course=course).exists()
        assert ce_progress(rules=rules, certificate=data["own"]).hours == Decimal("0.1")

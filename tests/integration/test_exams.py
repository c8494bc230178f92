"""Exams end to end on real PostgreSQL: seats and ticket numbers, admission tickets inside the printing
window only, scores typed in or imported from Excel (all or nothing, row errors), retakes, the review of
passes issuing the qualification certificate, pages and API.

sichuan and its look-alike sichuanb both get a 合格证 kind (after_pass_and_review) and retakes allowed,
and both hold the same person with the same exam session and ticket number, so a query that forgets the
tenant finds the twin. sichuan's 测试证 prints once learning is complete (application `completed`) and
for 7 days from the session's print opening (print_window_days).
"""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from openpyxl import Workbook

from certificates.exams import (
    ExamError,
    exam_entry_mark_absent,
    exam_passes_review,
    exam_score_enter,
    exam_scores_import,
    exam_seats_assign,
    exam_session_create,
    exam_ticket_pdf,
)
from certificates.models import Certificate, ExamEntry, ExamSession, Score
from certificates.rules_exams import RowError
from registration.models import Application, Program, TrainingSession
from shared.accounts.models import PersonProfile, User, UserKind
from shared.models import AuditEntry
from tenant_configs.schema import CertificateKindRules
from tenant_configs.selectors import rules_current
from tenant_configs.services import rules_publish
from tests.conftest import host_client
from tests.ids import valid_id_number

HOST_A = "sichuan.localhost"
HOST_B = "sichuanb.localhost"
ID_1 = valid_id_number("510104", "19900101", "123")
ID_2 = valid_id_number("510104", "19850505", "456")
TWINS = ("sichuan", "sichuanb")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    return tmp_path


@pytest.fixture
def exam_rules(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    qualification = CertificateKindRules(
        code="qualification",
        kind="qualification",
        title="监理人员培训合格证",
        condition="after_pass_and_review",
        numbering_pattern="SCHG{year}{seq:06d}",
        validity_years=3,
    )
    for schema in TWINS:
        with schema_context(schema), django_capture_on_commit_callbacks(execute=True):
            rules = rules_current()
            certificates = rules.certificates.model_copy(
                update={
                    "kinds": (*rules.certificates.kinds, qualification),
                    "exams": rules.certificates.exams.model_copy(update={"retake_allowed": True}),
                }
            )
            rules_publish(rules=rules.model_copy(update={"certificates": certificates}), actor=None)
    connection.set_schema_to_public()


def _person(name: str, id_number: str) -> User:
    user = User.objects.create_user(
        f"p{id_number}", None, kind=UserKind.PERSON, name=name, id_number=id_number
    )
    PersonProfile.objects.create(user=user, name=name, id_number=id_number)
    return user


def _application(person: User, *, status: str = "completed") -> Application:
    program, _ = Program.objects.get_or_create(
        code="jianli_2022", defaults={"name": "2022年监理人员职业培训"}
    )
    session, _ = TrainingSession.objects.get_or_create(program=program, code="C1", defaults={"name": "一期"})
    return Application.objects.create(
        session=session,
        program=program,
        enrolment_key=program.code,
        person=person,
        channel="self",
        status=status,
        rules_version=1,
    )


def _admin() -> User:
    return User.objects.get(username="admin")


def _session(
    *, kind: str = "normal", seats: int = 10, opens_in: timedelta = timedelta(days=-1)
) -> ExamSession:
    now = timezone.now()
    return exam_session_create(
        program_id=Program.objects.get(code="jianli_2022").pk,
        name="2022年监理人员机考" + ("（补考）" if kind == "retake" else ""),
        kind=kind,
        starts_at=now + timedelta(days=10),
        location="成都市武侯区考点",
        seats=seats,
        print_opens_at=now + opens_in,
        print_closes_at=now + timedelta(days=10),
        actor=_admin(),
    )


def _assign(session: ExamSession, *applications: Application) -> list[ExamEntry]:
    return exam_seats_assign(
        rules=rules_current(),
        session_id=session.pk,
        actor=_admin(),
        application_ids=[application.pk for application in applications],
    )


@pytest.fixture
def twins(exam_rules):
    """In both tenants: 张三 and 李四 (completed applications), one session, both seated. {schema: dict}."""
    made = {}
    for schema in TWINS:
        with schema_context(schema):
            first, second = _person("张三", ID_1), _person("李四", ID_2)
            applications = (_application(first), _application(second))
            session = _session()
            entries = _assign(session, *applications)
            made[schema] = {"people": (first, second), "session": session, "entries": entries}
    connection.set_schema_to_public()
    return made


def _xlsx(rows: list[list[object]], header=("身份证号", "成绩")) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _login(host: str, user: User) -> Client:
    client = host_client(host)
    with schema_context(host.split(".")[0]):
        client.force_login(user)
    connection.set_schema_to_public()
    return client


def _snapshot() -> dict:
    """What the failure paths must leave alone."""
    return {
        "entries": sorted(ExamEntry.objects.values_list("pk", "session_id", "status", "ticket_number")),
        "seats": sorted(ExamSession.objects.values_list("pk", "seats_taken")),
        "scores": sorted(Score.objects.values_list("pk", "score", "passed", "pass_reviewed_at")),
        "certificates": Certificate.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


# --- seats --------------------------------------------------------------------------------------


def test_seats_get_seat_numbers_and_ticket_numbers_from_the_test_card_pattern(twins):
    year = timezone.localtime().year
    with schema_context("sichuan"):
        session = ExamSession.objects.get()
        entries = list(ExamEntry.objects.order_by("seat_number"))
        assert [(entry.seat_number, entry.ticket_number, entry.status) for entry in entries] == [
            (1, f"SC{year}000001", "assigned"),
            (2, f"SC{year}000002", "assigned"),
        ]
        assert session.seats_taken == 2
        assert AuditEntry.objects.filter(action="exam.seats_assign").count() == 1
    with schema_context("sichuanb"):
        assert ExamEntry.objects.count() == 2  # the twin is untouched by sichuan's numbering


def test_assigning_more_than_the_free_seats_changes_nothing(exam_rules):
    with schema_context("sichuan"):
        applications = [_application(_person("张三", ID_1)), _application(_person("李四", ID_2))]
        session = _session(seats=1)
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            _assign(session, *applications)

        assert refused.value.code == "no_seats"
        assert _snapshot() == before


def test_an_application_not_yet_approved_gets_no_seat_and_nothing_changes(exam_rules):
    with schema_context("sichuan"):
        approved = _application(_person("张三", ID_1))
        pending = _application(_person("李四", ID_2), status="association_review")
        session = _session()
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            _assign(session, approved, pending)

        assert refused.value.code == "not_eligible"
        assert _snapshot() == before


def test_no_double_booking_in_a_second_session(twins):
    with schema_context("sichuan"):
        application = twins["sichuan"]["entries"][0].application
        other = _session()
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            _assign(other, application)

        assert refused.value.code == "already_assigned"
        assert _snapshot() == before


def test_assigning_without_a_list_seats_every_eligible_application_once(exam_rules):
    with schema_context("sichuan"):
        _application(_person("张三", ID_1))
        _application(_person("李四", ID_2), status="submitted")
        session = _session()
        entries = exam_seats_assign(rules=rules_current(), session_id=session.pk, actor=_admin())
        again = exam_seats_assign(rules=rules_current(), session_id=session.pk, actor=_admin())

        assert [entry.application.person.name for entry in entries] == ["张三"]
        assert again == []
        assert ExamSession.objects.get().seats_taken == 1


# --- retakes ------------------------------------------------------------------------------------


def test_a_retake_for_someone_who_passed_is_refused_and_changes_nothing(twins):
    with schema_context("sichuan"):
        passed, failed = twins["sichuan"]["entries"]
        exam_score_enter(rules=rules_current(), entry_id=passed.pk, score="75", actor=_admin())
        exam_score_enter(rules=rules_current(), entry_id=failed.pk, score="40", actor=_admin())
        retake = _session(kind="retake")
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            _assign(retake, passed.application)

        assert refused.value.code == "already_passed"
        assert _snapshot() == before
        seated = _assign(retake, failed.application)
        assert [entry.application_id for entry in seated] == [failed.application_id]


def test_no_retake_when_the_rules_do_not_allow_one(twins):
    with schema_context("sichuan"):
        failed = twins["sichuan"]["entries"][1]
        exam_score_enter(rules=rules_current(), entry_id=failed.pk, score="40", actor=_admin())
        retake = _session(kind="retake")
        rules = rules_current()
        no_retakes = rules.model_copy(
            update={
                "certificates": rules.certificates.model_copy(
                    update={"exams": rules.certificates.exams.model_copy(update={"retake_allowed": False})}
                )
            }
        )
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_seats_assign(
                rules=no_retakes,
                session_id=retake.pk,
                actor=_admin(),
                application_ids=[failed.application_id],
            )

        assert refused.value.code == "retake_not_allowed"
        assert _snapshot() == before


# --- tickets ------------------------------------------------------------------------------------


def test_the_ticket_prints_inside_the_window(twins):
    with schema_context("sichuan"):
        entry = twins["sichuan"]["entries"][0]
        person = twins["sichuan"]["people"][0]

        data = exam_ticket_pdf(rules=rules_current(), entry=entry, viewer=person)

        assert data.startswith(b"%PDF")
        assert not AuditEntry.objects.filter(action="exam.ticket_print").exists()  # the holder's own


@pytest.mark.parametrize(
    ("shift", "code"),
    [
        (timedelta(days=-2), "print_not_open"),
        (timedelta(days=7), "print_closed"),
        (timedelta(days=11), "print_closed"),
    ],
)
def test_the_ticket_is_refused_outside_the_window(twins, shift, code):
    with schema_context("sichuan"):
        entry = twins["sichuan"]["entries"][0]
        opens_at = entry.session.print_opens_at
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_ticket_pdf(
                rules=rules_current(), entry=entry, viewer=_admin(), now=opens_at + shift + timedelta(days=1)
            )

        assert refused.value.code == code
        assert _snapshot() == before


def test_the_ticket_is_refused_before_the_learning_is_complete(exam_rules):
    with schema_context("sichuan"):
        person = _person("张三", ID_1)
        application = _application(person, status="paid")
        (entry,) = _assign(_session(), application)
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_ticket_pdf(rules=rules_current(), entry=entry, viewer=person)

        assert refused.value.code == "not_eligible"
        assert _snapshot() == before


def test_the_ticket_page_refuses_outside_the_window_with_a_message(exam_rules):
    with schema_context("sichuan"):
        person = _person("张三", ID_1)
        application = _application(person)
        (entry,) = _assign(_session(opens_in=timedelta(days=2)), application)
    client = _login(HOST_A, person)

    response = client.get(f"/exams/{entry.pk}/ticket.pdf", follow=True)

    assert response.status_code == 200
    assert "准考证打印时间未到" in response.content.decode()
    page = client.get("/exams/").content.decode()
    assert "打印准考证" not in page and "准考证打印时间未到" in page


def test_another_persons_ticket_is_not_found(twins):
    first = twins["sichuan"]["people"][0]
    other_entry = twins["sichuan"]["entries"][1]
    client = _login(HOST_A, first)

    assert client.get(f"/exams/{other_entry.pk}/ticket.pdf").status_code == 404
    assert client.get(f"/api/v1/exams/{other_entry.pk}/ticket/").status_code == 404
    own = client.get(f"/exams/{twins['sichuan']['entries'][0].pk}/ticket.pdf")
    assert own.status_code == 200 and own["Content-Type"] == "application/pdf"


def test_a_session_from_one_tenant_does_not_open_the_twin(twins):
    first = twins["sichuan"]["people"][0]
    client = _login(HOST_A, first)
    twin_entry = twins["sichuanb"]["entries"][0]

    response = client.get(f"/exams/{twin_entry.pk}/ticket.pdf", HTTP_HOST=HOST_B)

    assert response.status_code in (302, 404)
    assert response.get("Content-Type") != "application/pdf"


# --- scores -------------------------------------------------------------------------------------


def test_a_score_out_of_range_is_refused_and_changes_nothing(twins):
    with schema_context("sichuan"):
        entry = twins["sichuan"]["entries"][0]
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_score_enter(rules=rules_current(), entry_id=entry.pk, score="100.5", actor=_admin())

        assert refused.value.code == "score_out_of_range"
        assert _snapshot() == before


def test_a_typed_score_decides_the_pass_from_the_rules(twins):
    with schema_context("sichuan"):
        entry = twins["sichuan"]["entries"][0]

        score = exam_score_enter(rules=rules_current(), entry_id=entry.pk, score="59.5", actor=_admin())

        assert (score.score, score.passed, score.source) == (Decimal("59.5"), False, "manual")
        assert ExamEntry.objects.get(pk=entry.pk).status == "scored"
        with pytest.raises(ExamError) as refused:
            exam_score_enter(rules=rules_current(), entry_id=entry.pk, score="80", actor=_admin())
        assert refused.value.code == "invalid_state"
        assert Score.objects.get().score == Decimal("59.5")


def test_a_score_file_with_unknown_ids_and_bad_scores_imports_nothing(twins):
    with schema_context("sichuan"):
        session = twins["sichuan"]["session"]
        unknown = valid_id_number("510104", "19700101", "789")
        data = _xlsx([[ID_1, 88], [unknown, 70], [ID_2, 120], [ID_1, 90]])
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_scores_import(rules=rules_current(), session_id=session.pk, data=data, actor=_admin())

        assert refused.value.code == "rows_rejected"
        assert refused.value.row_errors == [
            RowError(3, f"身份证号 {unknown} 不是本场考试的考生"),
            RowError(4, "成绩 120 超出范围（0～100）"),
            RowError(5, f"身份证号 {ID_1} 与第 2 行重复"),
        ]
        assert _snapshot() == before


def test_a_good_score_file_imports_every_row_by_id_or_ticket(twins):
    with schema_context("sichuan"):
        session = twins["sichuan"]["session"]
        first, second = twins["sichuan"]["entries"]
        data = _xlsx(
            [[ID_1, "", 88.5], ["", second.ticket_number, 59]], header=("身份证号", "准考证号", "成绩")
        )

        result = exam_scores_import(rules=rules_current(), session_id=session.pk, data=data, actor=_admin())

        assert (result.imported, result.passed) == (2, 1)
        assert sorted(Score.objects.values_list("entry_id", "score", "passed", "source")) == sorted(
            [(first.pk, Decimal("88.5"), True, "import"), (second.pk, Decimal("59.0"), False, "import")]
        )
    with schema_context("sichuanb"):
        assert Score.objects.count() == 0  # the twin's identical people are not touched


def test_the_console_shows_row_errors_and_imports_nothing(twins):
    from tests.conftest import staff_client

    session = twins["sichuan"]["session"]
    client = staff_client(HOST_A)
    upload = io.BytesIO(_xlsx([[ID_1, 88], [ID_2, -3]]))
    upload.name = "成绩.xlsx"

    response = client.post(f"/exams/console/{session.pk}/import/", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200
    assert "有 1 行错误，未导入任何成绩" in page
    assert "成绩 -3 超出范围（0～100）" in page
    with schema_context("sichuan"):
        assert Score.objects.count() == 0


def test_an_absent_candidate_cannot_be_scored_by_file(twins):
    with schema_context("sichuan"):
        session = twins["sichuan"]["session"]
        exam_entry_mark_absent(entry_id=twins["sichuan"]["entries"][1].pk, actor=_admin())
        before = _snapshot()

        with pytest.raises(ExamError) as refused:
            exam_scores_import(
                rules=rules_current(),
                session_id=session.pk,
                data=_xlsx([[ID_1, 70], [ID_2, 70]]),
                actor=_admin(),
            )

        assert [error.row for error in refused.value.row_errors] == [3]
        assert _snapshot() == before


# --- review of passes ---------------------------------------------------------------------------


def test_reviewing_passes_issues_the_qualification_certificate_once(
    twins, django_capture_on_commit_callbacks
):
    year = timezone.localtime().year
    with schema_context("sichuan"):
        session = twins["sichuan"]["session"]
        passed, failed = twins["sichuan"]["entries"]
        exam_scores_import(
            rules=rules_current(), session_id=session.pk, data=_xlsx([[ID_1, 75], [ID_2, 40]]), actor=_admin()
        )

        with django_capture_on_commit_callbacks(execute=False):
            scores = exam_passes_review(rules=rules_current(), session_id=session.pk, actor=_admin())

        (certificate,) = Certificate.objects.all()
        assert [score.entry_id for score in scores] == [passed.pk]
        assert certificate.number == f"SCHG{year}000001"
        assert (certificate.holder_id, certificate.application_id) == (
            passed.application.person_id,
            passed.application_id,
        )
        score = Score.objects.get(entry=passed)
        assert score.pass_reviewed_by == _admin() and score.certificate_id == certificate.pk
        assert Score.objects.get(entry=failed).pass_reviewed_at is None
        before = _snapshot()
        with pytest.raises(ExamError) as refused:
            exam_passes_review(rules=rules_current(), session_id=session.pk, actor=_admin())
        assert refused.value.code == "nothing_to_review"
        assert _snapshot() == before
    with schema_context("sichuanb"):
        assert Certificate.objects.count() == 0


# --- pages and API ------------------------------------------------------------------------------


def test_my_exams_and_the_api_show_only_the_callers_entries(twins):
    first = twins["sichuan"]["people"][0]
    with schema_context("sichuan"):
        exam_score_enter(
            rules=rules_current(), entry_id=twins["sichuan"]["entries"][0].pk, score="81", actor=_admin()
        )
    client = _login(HOST_A, first)

    page = client.get("/exams/").content.decode()
    data = client.get("/api/v1/exams/").json()

    assert page.count('class="exam-row"') == 1 and "81.0" in page
    assert [(item["seat_number"], item["score"], item["passed"], item["status"]) for item in data] == [
        (1, "81.0", True, "scored")
    ]
    assert data[0]["ticket_printable"] is False and data[0]["ticket_refusal"] == "考试已结束"


def test_staff_create_a_session_from_the_console(exam_rules):
    from tests.conftest import staff_client

    with schema_context("sichuan"):
        _application(_person("张三", ID_1))
        program = Program.objects.get(code="jianli_2022")
    client = staff_client(HOST_A)
    response = client.post(
        "/exams/console/",
        {
            "program_id": program.pk,
            "name": "第一场",
            "kind": "normal",
            "starts_at": "2026-06-01T09:00",
            "location": "成都",
            "seats": 30,
            "print_opens_at": "2026-05-20T09:00",
            "print_closes_at": "2026-06-01T08:00",
        },
    )
    assert response.status_code == 302
    with schema_context("sichuan"):
        session = ExamSession.objects.get()
        assert (session.name, session.seats, session.kind) == ("第一场", 30, "normal")
    assert client.post(f"/exams/console/{session.pk}/assign/").status_code == 302
    with schema_context("sichuan"):
        assert ExamEntry.objects.filter(session=session).count() == 1
    with schema_context("sichuanb"):
        assert ExamSession.objects.count() == 0

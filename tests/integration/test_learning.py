"""Video learning: watch sessions and heartbeats (real time only), the Range-served private video, pages
and API — each bad input changing nothing, and everything run beside the look-alike tenant `sichuanb`
holding the same usernames, programs and courses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from learning import selectors, services
from learning.models import Course, CourseCompletion, Lesson, LessonProgress, WatchSession
from learning.rules import Outcome
from registration.models import Application, ApplicationStatus, Program, TrainingSession
from registration.services import program_create
from shared.accounts.models import Company, PersonProfile, User, UserKind
from tenant_configs.selectors import rules_current
from tests.conftest import host_client, staff_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

HOST_A = "sichuan.localhost"
HOST_B = "sichuanb.localhost"
PROGRAM = "jianli_2022"
# Bytes that pass as MP4 (an `ftyp` box first), then a recognisable body for the Range tests.
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + bytes(range(256)) * 8


def video_of(schema: str) -> bytes:
    """Each tenant's lessons have their own bytes, so a stream from the wrong tenant shows."""
    return VIDEO if schema == "sichuan" else VIDEO + schema.encode()


DURATION = 40


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"  # forces django-tenants' storage to forget its root
    return tmp_path


@dataclass
class World:
    schema: str
    program: Program
    course: Course
    lesson: Lesson
    second_lesson: Lesson
    student: User
    classmate: User
    stranger: User  # approved, not paid
    operator: User
    company: Company


def _person(username: str, serial: str, *, company: Company | None = None) -> User:
    user = User.objects.create_user(username, None, kind=UserKind.PERSON, name=f"学员{username}")
    id_number = valid_id_number("510104", "19900101", serial)
    PersonProfile.objects.create(user=user, name=user.name, id_number=id_number, company=company)
    return user


def _application(session: TrainingSession, person: User, status: str) -> Application:
    return Application.objects.create(
        session=session,
        program=session.program,
        enrolment_key=session.program.code,
        person=person,
        channel="self",
        status=status,
        rules_version=1,
    )


def build_world(schema: str) -> World:
    """The same names in every tenant, so a query missing its tenant or owner filter finds the twin."""
    with schema_context(schema):
        rules = rules_current()
        admin = User.objects.get(username="admin")
        program = program_create(rules=rules, code=PROGRAM, actor=admin)
        session = TrainingSession.objects.create(program=program, code="L1", name="学习测试期")
        course = services.course_create(
            rules=rules,
            actor=admin,
            data=services.CourseInput(
                title="监理概论", program=program, test_on=timezone.localdate() + timedelta(days=10)
            ),
        )
        lessons = [
            services.lesson_create(
                rules=rules,
                actor=admin,
                course=course,
                data=services.LessonInput(title=f"第{order}讲", order=order, duration_seconds=DURATION),
                video=SimpleUploadedFile("我的视频.mp4", video_of(schema), content_type="video/mp4"),
            )
            for order in (1, 2)
        ]
        company = Company.objects.create(name="成都监理公司")
        operator = User.objects.create_user(
            "lco", None, kind=UserKind.COMPANY, name="经办人", company=company
        )
        student = _person("lstudent", "601", company=company)
        classmate = _person("lclassmate", "602")
        stranger = _person("lstranger", "603", company=company)
        _application(session, student, ApplicationStatus.PAID)
        _application(session, classmate, ApplicationStatus.PAID)
        _application(session, stranger, ApplicationStatus.APPROVED)
        return World(
            schema, program, course, lessons[0], lessons[1], student, classmate, stranger, operator, company
        )


@pytest.fixture
def world_a(tenant_a) -> World:
    return build_world(tenant_a.schema_name)


@pytest.fixture
def world_b(tenant_b) -> World:
    return build_world(tenant_b.schema_name)


def learning_state(schema: str) -> dict:
    """Everything a heartbeat or a start could change, to compare before and after a refusal."""
    with schema_context(schema):
        return {
            "progress": list(LessonProgress.objects.order_by("pk").values()),
            "sessions": list(WatchSession.objects.order_by("pk").values()),
            "completions": list(CourseCompletion.objects.order_by("pk").values()),
        }


def client_for(host: str, user: User):
    client = host_client(host)
    with schema_context(host.split(".")[0]):
        client.force_login(user)
    return client


def watch(world: World, person: User, lesson: Lesson, start, positions_every_15s):
    """Start at `start`, then one heartbeat every 15 s of server time; returns the last result."""
    with schema_context(world.schema):
        rules = rules_current()
        session = services.watch_start(rules=rules, person=person, lesson=lesson, now=start)
        result = None
        for index, position in enumerate(positions_every_15s, start=1):
            result = services.heartbeat_record(
                rules=rules,
                person=person,
                token=session.token,
                position=position,
                now=start + timedelta(seconds=15 * index),
            )
        return session, result


# --- watching ---------------------------------------------------------------------------------------------


def test_real_time_heartbeats_complete_the_lessons_and_the_course(world_a, world_b):
    start = timezone.now()

    _session, first = watch(world_a, world_a.student, world_a.lesson, start, [15.0, 30.0, 40.0])
    assert first.decision.outcome == Outcome.ADVANCED
    assert first.course_completed is False  # one lesson of two
    _session, second = watch(
        world_a, world_a.student, world_a.second_lesson, start + timedelta(minutes=2), [15.0, 30.0, 40.0]
    )

    assert second.course_completed is True
    with schema_context(world_a.schema):
        progress = LessonProgress.objects.get(person=world_a.student, lesson=world_a.lesson)
        assert (progress.furthest_second, progress.watched_seconds, progress.last_position) == (
            40.0,
            40.0,
            40.0,
        )
        assert progress.completed_at == start + timedelta(seconds=45)
        completion = CourseCompletion.objects.get(person=world_a.student, course=world_a.course)
        assert completion.completed_at == start + timedelta(minutes=2, seconds=45)
        assert selectors.course_completed(person=world_a.student, program=world_a.program) is True
        assert selectors.course_completed(person=world_a.classmate, program=world_a.program) is False
        assert selectors.completion_deadline(program=world_a.program, rules=rules_current()) == (
            world_a.course.test_on - timedelta(days=3)
        )
    # The twin tenant's student of the same username learned nothing.
    with schema_context(world_b.schema):
        assert not LessonProgress.objects.exists()
        assert selectors.course_completed(person=world_b.student, program=world_b.program) is False


def test_resume_starts_the_next_session_where_the_last_one_stopped(world_a):
    start = timezone.now()
    watch(world_a, world_a.student, world_a.lesson, start, [15.0, 12.0])

    with schema_context(world_a.schema):
        again = services.watch_start(
            rules=rules_current(),
            person=world_a.student,
            lesson=world_a.lesson,
            now=start + timedelta(minutes=5),
        )
        assert again.last_position == 12.0
        # Only one open session per person: the first one is closed.
        assert list(WatchSession.objects.filter(ended_at__isnull=True).values_list("pk", flat=True)) == [
            again.pk
        ]


def test_a_heartbeat_skipping_ahead_changes_nothing(world_a):
    start = timezone.now()
    session, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        result = services.heartbeat_record(
            rules=rules_current(),
            person=world_a.student,
            token=session.token,
            position=39.0,
            now=start + timedelta(seconds=30),
        )

    assert result.decision.outcome == Outcome.AHEAD_OF_REAL_TIME
    assert result.decision.position == 15.0  # where the player is sent back to
    assert learning_state(world_a.schema) == before


def test_heartbeats_arriving_faster_than_real_time_change_nothing(world_a):
    start = timezone.now()
    session, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        rules = rules_current()
        # 5 s of wall time claiming 15 s of video (a script replaying heartbeats at triple speed) …
        fast = services.heartbeat_record(
            rules=rules,
            person=world_a.student,
            token=session.token,
            position=30.0,
            now=start + timedelta(seconds=20),
        )
        # … and two heartbeats in the same half second.
        burst = services.heartbeat_record(
            rules=rules,
            person=world_a.student,
            token=session.token,
            position=15.2,
            now=start + timedelta(seconds=15, milliseconds=500),
        )

    assert fast.decision.outcome == Outcome.AHEAD_OF_REAL_TIME
    assert burst.decision.outcome == Outcome.TOO_FREQUENT
    assert learning_state(world_a.schema) == before


def test_another_students_token_is_answered_like_an_unknown_one_and_changes_nothing(world_a):
    start = timezone.now()
    session, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        with pytest.raises(services.LearningError) as refused:
            services.heartbeat_record(
                rules=rules_current(),
                person=world_a.classmate,
                token=session.token,
                position=30.0,
                now=start + timedelta(seconds=30),
            )
        assert refused.value.code == "session_not_found"
        with pytest.raises(services.LearningError) as refused_click:
            services.idle_confirm(rules=rules_current(), person=world_a.classmate, token=session.token)
        assert refused_click.value.code == "session_not_found"
    response = client_for(HOST_A, world_a.classmate).post(
        "/api/v1/learning/heartbeats/",
        {"token": session.token, "position": 30.0},
        content_type="application/json",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "session_not_found"
    assert learning_state(world_a.schema) == before


def test_a_person_not_enrolled_cannot_start_nor_keep_watching(world_a):
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        with pytest.raises(services.LearningError) as refused:
            services.watch_start(rules=rules_current(), person=world_a.stranger, lesson=world_a.lesson)
    assert refused.value.code == "not_enrolled"
    response = client_for(HOST_A, world_a.stranger).post(
        f"/api/v1/learning/lessons/{world_a.lesson.pk}/start/"
    )
    assert response.status_code == 404
    assert learning_state(world_a.schema) == before

    # A session opened while enrolled stops counting once the enrolment is gone.
    start = timezone.now()
    session, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    with schema_context(world_a.schema):
        Application.objects.filter(person=world_a.student).update(status=ApplicationStatus.APPROVED)
    before = learning_state(world_a.schema)
    with schema_context(world_a.schema):
        with pytest.raises(services.LearningError) as refused:
            services.heartbeat_record(
                rules=rules_current(),
                person=world_a.student,
                token=session.token,
                position=30.0,
                now=start + timedelta(seconds=30),
            )
    assert refused.value.code == "not_enrolled"
    assert learning_state(world_a.schema) == before


def test_after_the_idle_pause_progress_waits_for_the_click(world_a):
    start = timezone.now()
    session, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    late = start + timedelta(minutes=21)
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        rules = rules_current()
        assert rules.learning.video.idle_pause_minutes == 20
        waiting = services.heartbeat_record(
            rules=rules, person=world_a.student, token=session.token, position=30.0, now=late
        )
        assert waiting.decision.outcome == Outcome.CONFIRMATION_REQUIRED
        assert learning_state(world_a.schema) == before

        services.idle_confirm(rules=rules, person=world_a.student, token=session.token, now=late)
        resumed = services.heartbeat_record(
            rules=rules,
            person=world_a.student,
            token=session.token,
            position=30.0,
            now=late + timedelta(seconds=15),
        )
    assert resumed.decision.outcome == Outcome.ADVANCED
    assert resumed.progress.furthest_second == 30.0


def test_a_closed_session_takes_no_heartbeats(world_a):
    start = timezone.now()
    first, _ = watch(world_a, world_a.student, world_a.lesson, start, [15.0])
    watch(world_a, world_a.student, world_a.second_lesson, start + timedelta(seconds=20), [])
    before = learning_state(world_a.schema)

    with schema_context(world_a.schema):
        with pytest.raises(services.LearningError) as refused:
            services.heartbeat_record(
                rules=rules_current(),
                person=world_a.student,
                token=first.token,
                position=30.0,
                now=start + timedelta(seconds=30),
            )
    assert refused.value.code == "session_ended"
    assert learning_state(world_a.schema) == before


# --- staff ------------------------------------------------------------------------------------------------


def test_only_staff_create_courses_and_a_non_video_upload_stores_nothing(world_a, media_root):
    files_before = sorted(media_root.rglob("*"))
    with schema_context(world_a.schema):
        rules = rules_current()
        courses_before = Course.objects.count()
        with pytest.raises(services.LearningError) as refused:
            services.course_create(rules=rules, actor=world_a.student, data=services.CourseInput(title="x"))
        assert refused.value.code == "forbidden"
        with pytest.raises(services.LearningError) as refused:
            services.lesson_create(
                rules=rules,
                actor=User.objects.get(username="admin"),
                course=world_a.course,
                data=services.LessonInput(title="假视频", order=3, duration_seconds=10),
                video=SimpleUploadedFile("x.mp4", b"<?php echo 1; ?>" * 4, content_type="video/mp4"),
            )
        assert refused.value.code == "video_format"
        assert Course.objects.count() == courses_before
        assert world_a.course.lessons.count() == 2
    assert sorted(media_root.rglob("*")) == files_before


def test_videos_are_stored_privately_under_the_tenants_folder(world_a, world_b, media_root):
    with schema_context(world_a.schema):
        name_a = world_a.lesson.video.name
    assert name_a.startswith("learning/videos/") and name_a.endswith(".mp4") and "视频" not in name_a
    assert (media_root / "sichuan" / name_a).read_bytes() == VIDEO
    assert not (media_root / "sichuanb" / name_a).exists()


def test_staff_console_creates_a_course_and_uploads_a_lesson(world_a, world_b):
    client = staff_client(HOST_A)

    created = client.post("/learning/console/", {"title": "安全生产", "program": world_a.program.pk})
    with schema_context(world_a.schema):
        course = Course.objects.get(title="安全生产")
    assert created.status_code == 302
    uploaded = client.post(
        f"/learning/console/courses/{course.pk}/",
        {
            "title": "第一讲",
            "order": 1,
            "duration_seconds": 30,
            "video": SimpleUploadedFile("a.mp4", VIDEO, content_type="video/mp4"),
        },
    )

    assert uploaded.status_code == 302
    with schema_context(world_a.schema):
        assert list(course.lessons.values_list("title", "content_type", "size_bytes")) == [
            ("第一讲", "video/mp4", len(VIDEO))
        ]
    with schema_context(world_b.schema):
        assert not Course.objects.filter(title="安全生产").exists()
    page = client.get("/learning/console/")
    assert "安全生产" in page.content.decode()
    assert client_for(HOST_A, world_a.student).get("/learning/console/").status_code == 403


def test_learning_records_for_staff_and_for_the_company_of_the_person(world_a, world_b):
    watch(world_a, world_a.student, world_a.lesson, timezone.now(), [15.0])
    watch(world_a, world_a.classmate, world_a.lesson, timezone.now(), [15.0])
    watch(world_b, world_b.classmate, world_b.lesson, timezone.now(), [15.0])

    staff_page = staff_client(HOST_A).get("/learning/console/records/").content.decode()
    company_page = client_for(HOST_A, world_a.operator).get("/learning/company/records/").content.decode()

    assert staff_page.count('class="record"') == 2
    assert company_page.count('class="record"') == 1  # the classmate is not the company's
    assert "学员lstudent" in company_page and "学员lclassmate" not in company_page


# --- the video stream -------------------------------------------------------------------------------------


def test_the_video_is_streamed_whole_or_by_range_to_an_enrolled_person(world_a):
    client = client_for(HOST_A, world_a.student)
    url = f"/learning/lessons/{world_a.lesson.pk}/video"

    whole = client.get(url)
    partial = client.get(url, HTTP_RANGE="bytes=16-31")
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(VIDEO)}-")

    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == VIDEO
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "video/mp4"
    assert partial.status_code == 206
    assert b"".join(partial.streaming_content) == VIDEO[16:32] == bytes(range(16))
    assert partial["Content-Range"] == f"bytes 16-31/{len(VIDEO)}"
    assert partial["Content-Length"] == "16"
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == VIDEO[-10:]
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(VIDEO)}"
    assert whole["Cache-Control"] == "private, no-store"


def test_nobody_else_can_stream_the_video(world_a, world_b):
    url = f"/learning/lessons/{world_a.lesson.pk}/video"

    assert client_for(HOST_A, world_a.stranger).get(url).status_code == 404
    assert client_for(HOST_A, world_a.operator).get(url).status_code == 403
    assert host_client(HOST_A).get(url).status_code == 302  # to the login page
    # tenant_a's student's session means nothing on the look-alike's host.
    cookie_a = client_for(HOST_A, world_a.student).cookies
    foreign = host_client(HOST_B)
    foreign.cookies = cookie_a
    assert foreign.get(url).status_code == 302
    # The look-alike's enrolled student of the same username, asking for the same id on their host, gets
    # their own association's lesson (ids are per schema), never sichuan's file.
    own = client_for(HOST_B, world_b.student).get(f"/learning/lessons/{world_b.lesson.pk}/video")
    assert b"".join(own.streaming_content) == video_of("sichuanb") != VIDEO


def test_the_look_alike_tenant_sees_only_its_own_courses(world_a, world_b):
    with schema_context(world_a.schema):
        Course.objects.filter(pk=world_a.course.pk).update(title="四川甲课程")

    answer_a = client_for(HOST_A, world_a.student).get("/api/v1/learning/courses/").json()
    answer_b = client_for(HOST_B, world_b.student).get("/api/v1/learning/courses/").json()
    page_b = client_for(HOST_B, world_b.student).get("/learning/").content.decode()

    assert [course["title"] for course in answer_a] == ["四川甲课程"]
    assert [course["title"] for course in answer_b] == ["监理概论"]
    assert "四川甲课程" not in page_b


# --- pages and API ----------------------------------------------------------------------------------------


def test_the_player_page_and_my_courses_show_progress(world_a):
    watch(world_a, world_a.student, world_a.lesson, timezone.now(), [15.0, 20.0])
    client = client_for(HOST_A, world_a.student)

    player = client.get(f"/learning/lessons/{world_a.lesson.pk}/").content.decode()
    courses = client.get("/learning/").content.decode()

    assert 'data-resume-at="20.000000"' in player and 'data-furthest="20.000000"' in player
    assert 'data-heartbeat-seconds="15"' in player and 'data-idle-minutes="20"' in player
    assert "learning/player.js" in player
    assert f'id="lesson-{world_a.lesson.pk}" data-percent="50"' in courses
    assert 'class="course-percent">25%' in courses
    assert (
        client_for(HOST_A, world_a.stranger).get(f"/learning/lessons/{world_a.lesson.pk}/").status_code == 404
    )
    assert "暂无可学习的课程" in client_for(HOST_A, world_a.stranger).get("/learning/").content.decode()


def test_api_start_then_heartbeat(world_a):
    client = client_for(HOST_A, world_a.student)

    started = client.post(f"/api/v1/learning/lessons/{world_a.lesson.pk}/start/")
    token = started.json()["token"]
    # Fifteen seconds of playing, without waiting for them: the session's clock is moved back.
    with schema_context(world_a.schema):
        WatchSession.objects.filter(token=token).update(
            last_heartbeat_at=timezone.now() - timedelta(seconds=15), confirmed_at=timezone.now()
        )
    beat = client.post(
        "/api/v1/learning/heartbeats/", {"token": token, "position": 15.0}, content_type="application/json"
    )
    skip = client.post(
        "/api/v1/learning/heartbeats/", {"token": token, "position": 39.0}, content_type="application/json"
    )

    assert started.status_code == 201
    assert started.json()["policy"]["heartbeat_seconds"] == 15
    assert started.json()["start_position"] == 0.0
    assert beat.status_code == 200
    assert beat.json() | {"watched_seconds": None} == {
        "accepted": True,
        "code": "advanced",
        "message": "",
        "position": 15.0,
        "furthest_second": 15.0,
        "watched_seconds": None,
        "lesson_completed": False,
        "course_completed": False,
        "confirmation_required": False,
    }
    assert skip.json()["accepted"] is False
    assert skip.json()["code"] in ("too_frequent", "ahead_of_real_time")
    assert skip.json()["position"] == 15.0


def test_api_idle_confirmation_is_the_owners_alone(world_a):
    session, _ = watch(
        world_a, world_a.student, world_a.lesson, timezone.now() - timedelta(minutes=30), [15.0]
    )
    before = learning_state(world_a.schema)

    refused = client_for(HOST_A, world_a.classmate).post(
        "/api/v1/learning/idle-confirmations/", {"token": session.token}, content_type="application/json"
    )
    assert refused.status_code == 404
    assert learning_state(world_a.schema) == before

    confirmed = client_for(HOST_A, world_a.student).post(
        "/api/v1/learning/idle-confirmations/", {"token": session.token}, content_type="application/json"
    )
    assert confirmed.status_code == 204
    with schema_context(world_a.schema):
        assert WatchSession.objects.get(pk=session.pk).confirmed_at > timezone.now() - timedelta(minutes=1)


def test_an_association_without_learning_has_no_learning_pages(tenant_gansu):
    with schema_context(tenant_gansu.schema_name):
        assert rules_current().learning.enabled is False
        person = _person("lgansu", "604")
    client = client_for("gansu.localhost", person)

    assert client.get("/learning/").status_code == 404
    assert client.get("/api/v1/learning/courses/").json()["code"] == "learning_disabled"

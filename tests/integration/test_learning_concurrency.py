"""Heartbeats under concurrency: real PostgreSQL, one connection per thread, committed data.

With the progress row locked, heartbeats sent at the same instant are decided one after the other: the
first counts and the rest are "too frequent". The control runs the same race without the locks: every
one of them is decided on the same stale state and accepted.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context

from learning import rules as engine
from learning import services
from learning.models import Course, CourseCompletion, LessonProgress, WatchSession
from registration.models import Application, ApplicationStatus, Program, TrainingSession
from shared.accounts.models import PersonProfile, User, UserKind
from shared.models import AuditEntry
from tenant_configs.selectors import rules_current
from tests.ids import valid_id_number

pytestmark = pytest.mark.slow
THREADS = 6
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + b"\x00" * 64


@pytest.fixture
def watching(django_db_setup, django_db_blocker, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    with django_db_blocker.unblock(), schema_context("sichuan"):
        rules = rules_current()
        admin = User.objects.get(username="admin")
        program = Program.objects.create(code="learning_race", name="并发学习测试")
        session = TrainingSession.objects.create(program=program, code="R1", name="一期")
        person = User.objects.create_user(
            "learning_racer",
            None,
            kind=UserKind.PERSON,
            id_number=valid_id_number("510104", "19900101", "777"),
        )
        PersonProfile.objects.create(user=person, name="并发学员", id_number=person.id_number)
        Application.objects.create(
            session=session,
            program=program,
            enrolment_key=program.code,
            person=person,
            channel="self",
            status=ApplicationStatus.PAID,
            rules_version=1,
        )
        course = services.course_create(
            rules=rules, actor=admin, data=services.CourseInput(title="并发课程", program=program)
        )
        lesson = services.lesson_create(
            rules=rules,
            actor=admin,
            course=course,
            data=services.LessonInput(title="一讲", order=1, duration_seconds=600),
            video=SimpleUploadedFile("v.mp4", VIDEO),
        )
        start = timezone.now() - timedelta(minutes=1)
        watch = services.watch_start(rules=rules, person=person, lesson=lesson, now=start)
        yield person, watch, start
        AuditEntry.objects.filter(actor=admin, object_type__in=["learning.course", "learning.lesson"]).filter(
            object_id__in=[str(course.pk), str(lesson.pk)]
        ).delete()
        WatchSession.objects.filter(person=person).delete()
        LessonProgress.objects.filter(person=person).delete()
        CourseCompletion.objects.filter(person=person).delete()
        Course.objects.filter(pk=course.pk).delete()
        Application.objects.filter(person=person).delete()
        PersonProfile.objects.filter(user=person).delete()
        person.delete()
        session.delete()
        program.delete()
    connection.set_schema_to_public()


def _race(person, watch, start, *, monkeypatch):
    original = engine.heartbeat_accept

    def slow(**kwargs):  # widen the window between reading the state and writing the decision
        time.sleep(0.05)
        return original(**kwargs)

    monkeypatch.setattr(engine, "heartbeat_accept", slow)
    barrier = threading.Barrier(THREADS)
    outcomes = []
    now = start + timedelta(seconds=15)

    def beat():
        try:
            with schema_context("sichuan"):
                rules = rules_current()
                barrier.wait()
                result = services.heartbeat_record(
                    rules=rules, person=person, token=watch.token, position=15.0, now=now
                )
                outcomes.append(result.decision.outcome.value)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_heartbeats_at_the_same_instant_count_once(watching, monkeypatch):
    person, watch, start = watching

    outcomes = _race(person, watch, start, monkeypatch=monkeypatch)

    assert outcomes == ["advanced"] + ["too_frequent"] * (THREADS - 1)
    with schema_context("sichuan"):
        progress = LessonProgress.objects.get(person=person)
        assert (progress.furthest_second, progress.watched_seconds) == (15.0, 15.0)
        assert WatchSession.objects.get(pk=watch.pk).heartbeats_accepted == 1


def test_control_without_the_lock_every_heartbeat_is_decided_on_stale_state(watching, monkeypatch):
    person, watch, start = watching
    monkeypatch.setattr(
        services,
        "_progress_locked",
        lambda *, person, lesson_id: LessonProgress.objects.get(person=person, lesson_id=lesson_id),
    )
    # The session row is locked as well (either lock alone serialises the heartbeats): remove both.
    monkeypatch.setattr(
        services,
        "_session_for",
        lambda *, token, person: WatchSession.objects.select_related("lesson").get(
            token=token, person=person
        ),
    )

    outcomes = _race(person, watch, start, monkeypatch=monkeypatch)

    assert outcomes == ["advanced"] * THREADS

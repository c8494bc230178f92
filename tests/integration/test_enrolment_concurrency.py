"""Seats under concurrency: real PostgreSQL, one connection per thread, committed data.

With the session row locked, exactly `capacity` people get a seat and the rest are refused cleanly.
The control runs the same race without the lock: the database's own check (seats_taken <= capacity)
is then the only thing left, and the losers fail with integrity errors (500s over HTTP) instead.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context

from registration import rules as engine
from registration.models import Application, Program, TrainingSession
from registration.services import ApplicantFacts, ApplicationRefused, application_submit
from shared.accounts.models import PersonProfile, User, UserKind
from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
from tests.conftest import CONFIGS
from tests.ids import valid_id_number

pytestmark = pytest.mark.slow
CAPACITY = 5
PEOPLE = 12


def _rules():
    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    data["programs"] = [{"code": "rush", "name": "抢位测试班", "channel": "self_only", "review_chain": []}]
    for kind in data["certificates"].get("kinds", []):
        kind.pop("programs", None)
    data["identity"]["real_name_verification"] = "none"
    data["organizations"]["person_must_belong_to_company"] = False
    return load_rules_data(data, source="rush")


@pytest.fixture
def rush(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), schema_context("sichuan"):
        program = Program.objects.create(code="rush", name="抢位测试班")
        session = TrainingSession.objects.create(
            program=program,
            code="R1",
            name="一期",
            capacity=CAPACITY,
            opens_at=timezone.now() - timedelta(days=1),
            closes_at=timezone.now() + timedelta(days=1),
        )
        people = []
        for number in range(PEOPLE):
            user = User.objects.create_user(
                f"rush{number}",
                None,
                kind=UserKind.PERSON,
                id_number=valid_id_number("510104", "19900101", f"{number:03d}"),
            )
            PersonProfile.objects.create(user=user, name=f"抢位{number}", id_number=user.id_number)
            people.append(user)
        yield session, people
        Application.objects.filter(session=session).delete()
        PersonProfile.objects.filter(user__in=people).delete()
        User.objects.filter(pk__in=[p.pk for p in people]).delete()
        session.delete()
        program.delete()
    connection.set_schema_to_public()


def _race(session, people, *, lock_session: bool, slow_rules: bool, monkeypatch):
    rules = _rules()
    if slow_rules:  # widen the window between reading the seat count and taking the seat
        original = engine.evaluate

        def slow(**kwargs):
            time.sleep(0.05)
            return original(**kwargs)

        monkeypatch.setattr(engine, "evaluate", slow)
    barrier = threading.Barrier(len(people))
    outcomes = []

    def apply(person):
        try:
            with schema_context("sichuan"):
                barrier.wait()
                application_submit(
                    rules=rules,
                    rules_version=1,
                    session_id=session.pk,
                    person=person,
                    actor=person,
                    channel="self",
                    submission=engine.Submission(
                        answers={}, documents=frozenset(), pledges={}, with_materials=None
                    ),
                    facts=ApplicantFacts(real_name_verified=True, has_photo=True),
                    lock_session=lock_session,
                )
                outcomes.append("seat")
        except ApplicationRefused as refusal:
            outcomes.append(refusal.code)
        except IntegrityError:
            outcomes.append("integrity_error")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_locked_seats_sell_exactly_the_capacity_and_refuse_the_rest_cleanly(rush, monkeypatch):
    session, people = rush

    outcomes = _race(session, people, lock_session=True, slow_rules=True, monkeypatch=monkeypatch)

    assert outcomes.count("seat") == CAPACITY
    assert outcomes.count("session_full") == PEOPLE - CAPACITY
    with schema_context("sichuan"):
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == CAPACITY
        assert Application.objects.filter(session=session).count() == CAPACITY


def test_control_without_the_lock_the_race_reaches_the_database(rush, monkeypatch):
    session, people = rush

    outcomes = _race(session, people, lock_session=False, slow_rules=True, monkeypatch=monkeypatch)

    # Everyone passed the capacity check on a stale count; only the CHECK constraint stopped overbooking.
    assert outcomes.count("integrity_error") == PEOPLE - CAPACITY
    with schema_context("sichuan"):
        assert TrainingSession.objects.get(pk=session.pk).seats_taken == CAPACITY


def test_one_person_applying_twice_at_once_gets_one_enrolment(rush, monkeypatch):
    session, people = rush
    same_person = [people[0]] * 6

    outcomes = _race(session, same_person, lock_session=True, slow_rules=False, monkeypatch=monkeypatch)

    assert outcomes.count("seat") == 1
    assert outcomes.count("already_enrolled") == 5
    with schema_context("sichuan"):
        assert Application.objects.filter(person=people[0]).count() == 1

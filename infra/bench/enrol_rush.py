"""enrol_rush: 400 people with API tokens rush one session of 200 seats over real HTTP.

The web server is what production runs (gunicorn, `shared.wsgi`, the Dockerfile's 3 sync workers unless
BENCH_WEB_WORKERS / BENCH_WEB_THREADS say otherwise); 32 client threads POST
`/api/v1/sessions/<id>/apply/` with a fresh Idempotency-Key until every person has tried once.

value = enrolments/s while selling out (200 seats ÷ seconds from the first request to the last seat's
answer); baseline = pgbench tps (-c 32 -j 2) of the bare transaction on the same database in the same run:
lock the session row, check the seats, insert the application, count the seat, insert the event and
the audit row (every transaction takes a seat). ratio = value / baseline.

Invariants that fail loudly: exactly 200 applications holding a seat, seats_taken == 200, every other
answer a 422 `session_full`, no 5xx, and the baseline's own seat count exact.

enrol_spread (infra/bench/enrol_spread.py) shares the setup below.
"""

import http.client
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from glob import glob
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

SLUG = "benchenrol"
HOST = f"{SLUG}.localhost"
PROGRAM = "bench_enrol"
BASELINE_PROGRAM = "bench_pgbench"
USERNAME_PREFIX = "bench-enrol-"
PEOPLE = 400
CAPACITY = 200
CLIENTS = 32
PGBENCH_THREADS = 2
WARMUP_PEOPLE = 16
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "1"))
BODY = json.dumps(
    {"answers": {"major": "土木工程"}, "pledges": {"personal_pledge": "1"}, "with_materials": None},
    ensure_ascii=False,
).encode()
LOG = Path(settings.BASE_DIR) / "var" / "bench-enrol-web.log"


class InvariantBroken(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantBroken(message)


# --- the tenant, its program and people ----------------------------------------------------------


def _rules():
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "sichuan.toml"))
    data["association"]["slug"] = SLUG
    # A mini-program style course: one field, one pledge, reviewed by the association. The tenant's
    # identity rules stay sichuan's (real name required, people belong to a company).
    data["programs"].append(
        {
            "code": PROGRAM,
            "name": "抢位基准班",
            "channel": "self_only",
            "review_chain": ["association"],
            "price": {"fee_fen": 80000},
            "fields": [{"key": "major", "label": "所学专业", "type": "text"}],
            "pledges": [{"key": "personal_pledge", "title": "个人承诺书", "text": "本人承诺所填资料真实。"}],
        }
    )
    return load_rules_data(data, source="bench enrol")


def ensure_tenant():
    """The bench association with the bench program in its published rules (published once)."""
    from tenant_configs.services import rules_publish
    from tenants.models import Association
    from tenants.services import tenant_onboard

    connection.set_schema_to_public()
    tenant = Association.objects.filter(slug=SLUG).first()
    if tenant is None:
        tenant = tenant_onboard(rules=_rules()).tenant
    with schema_context(tenant.schema_name):
        rules_publish(rules=_rules(), actor=None, comment="bench")  # a no-op when already current
    return tenant


def _id_number(number: int) -> str:
    from shared.validation import id_number_check_character

    body = f"510104{1970 + number // 1000}0101{number % 1000:03d}"
    return body + id_number_check_character(body)


def ensure_people(count: int) -> list[tuple[int, str]]:
    """(user id, API token) of `count` real-name-verified people of one company (created once, reused)."""
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from shared.accounts.models import Company, PersonProfile, User, UserKind

    company, _ = Company.objects.get_or_create(name="基准测试监理有限公司")
    existing = set(
        User.objects.filter(username__startswith=USERNAME_PREFIX).values_list("username", flat=True)
    )
    wanted = [f"{USERNAME_PREFIX}{number:05d}" for number in range(count)]
    missing = [(number, name) for number, name in enumerate(wanted) if name not in existing]
    if missing:
        password = make_password(None)
        now = timezone.now()
        users = User.objects.bulk_create(
            User(
                username=name,
                password=password,
                name=f"学员{number}",
                kind=UserKind.PERSON,
                id_number=_id_number(number),
                real_name_verified_at=now,
            )
            for number, name in missing
        )
        PersonProfile.objects.bulk_create(
            PersonProfile(user=user, name=user.name, id_number=user.id_number, company=company)
            for user in users
        )
        Token.objects.bulk_create(Token(key=Token.generate_key(), user=user) for user in users)
    tokens = dict(Token.objects.filter(user__username__in=wanted).values_list("user__username", "key"))
    ids = dict(User.objects.filter(username__in=wanted).values_list("username", "pk"))
    return [(ids[name], tokens[name]) for name in wanted]


def reset() -> None:
    """Forget every earlier run in the bench tenant: applications, their rows, sessions, stored answers."""
    from registration.models import Application, Program, TrainingSession
    from shared.models import AuditEntry, IdempotencyRecord

    programs = Program.objects.filter(code__in=[PROGRAM, BASELINE_PROGRAM])
    # Django's cascade (events, pledges, documents) finds pgbench's rows too: it selects them by key.
    Application.objects.filter(program__in=programs).delete()
    TrainingSession.objects.filter(program__in=programs).delete()
    IdempotencyRecord.objects.filter(user__username__startswith=USERNAME_PREFIX).delete()
    AuditEntry.objects.filter(action__startswith="application.").delete()


def program(code: str = PROGRAM, name: str = "抢位基准班"):
    from registration.models import Program

    return Program.objects.get_or_create(code=code, defaults={"name": name})[0]


def sessions_create(*, program_row, count: int, capacity: int, prefix: str) -> list:
    from registration.models import TrainingSession

    now = timezone.now()
    return TrainingSession.objects.bulk_create(
        TrainingSession(
            program=program_row,
            code=f"{prefix}{number:04d}",
            name=f"基准{prefix}{number}",
            capacity=capacity,
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=1),
            fee_fen=80000,
        )
        for number in range(count)
    )


# --- the web server and its clients --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """gunicorn serving shared.wsgi on a free local port, with this process's environment (bench DB)."""

    def __init__(self, workers: int = WEB_WORKERS, threads: int = WEB_THREADS):
        self.workers, self.threads = workers, threads
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "WebServer":
        LOG.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "shared.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        self._log = LOG.open("w")
        self.process = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"gunicorn exited; see {LOG}")
            try:
                status, _ = request("GET", self.port, "/healthz")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {LOG}")

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def request(method: str, port: int, path: str, *, token: str = "", key: str = "", body: bytes | None = None):
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return _send(connection_, method, path, token=token, key=key, body=body)
    finally:
        connection_.close()


def _send(connection_, method: str, path: str, *, token: str, key: str, body: bytes | None):
    headers = {"Host": HOST}
    if token:
        headers["Authorization"] = f"Token {token}"
    if key:
        headers["Idempotency-Key"] = key
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection_.request(method, path, body=body, headers=headers)
    response = connection_.getresponse()
    return response.status, response.read()


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str
    finished_at: float
    latency: float


@dataclass
class Rush:
    started_at: float
    outcomes: list[Outcome]
    retries: int

    def created(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == 201]

    def codes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.code] = counts.get(outcome.code, 0) + 1
        return counts

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted(outcome.latency for outcome in self.outcomes)
        return round(1000 * latencies[min(len(latencies) - 1, int(quantile * len(latencies)))], 1)


def _code(status: int, data: bytes) -> str:
    if status == 201:
        return "created"
    try:
        return str(json.loads(data).get("code", f"http_{status}"))
    except (ValueError, AttributeError):
        return f"http_{status}"


def rush(port: int, jobs: list[tuple[str, int]], clients: int = CLIENTS) -> Rush:
    """Each (token, session id) POSTs apply once with a fresh Idempotency-Key, `clients` at a time over
    keep-alive connections. A request the connection dropped is sent again with the same key (safe: that
    is what the key is for) and counted in `retries`."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        work.put(job)
    outcomes: list[Outcome] = []
    retries = [0]
    barrier = threading.Barrier(clients + 1)
    failures: list[BaseException] = []

    def client() -> None:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        try:
            while True:
                try:
                    token, session_id = work.get_nowait()
                except queue.Empty:
                    return
                key = uuid.uuid4().hex
                path = f"/api/v1/sessions/{session_id}/apply/"
                for attempt in (1, 2):
                    started = time.perf_counter()
                    try:
                        status, data = _send(connection_, "POST", path, token=token, key=key, body=BODY)
                        break
                    except (ConnectionError, http.client.HTTPException):
                        connection_.close()
                        if attempt == 2:
                            raise
                        retries[0] += 1
                finished = time.perf_counter()
                outcomes.append(Outcome(status, _code(status, data), finished, finished - started))
        except BaseException as error:  # reported after the join: a thread must not fail silently
            failures.append(error)
        finally:
            connection_.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started_at = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    if failures:
        raise failures[0]
    return Rush(started_at=started_at, outcomes=outcomes, retries=retries[0])


def warm_up(port: int, people: list[tuple[int, str]], session_id: int) -> None:
    """Every worker imports, connects and parses the rules before the clock starts: the warm-up people
    apply to a session of their own (unlimited), all at once so that every worker gets some."""
    outcome = rush(port, [(token, session_id) for _, token in people], clients=len(people))
    check(
        {item.status for item in outcome.outcomes} == {201},
        f"warm-up failed: {outcome.codes()}; see {LOG}",
    )


# --- the pgbench baseline ------------------------------------------------------------------------

BASELINE_TRANSACTION = """
BEGIN;
SELECT capacity - seats_taken AS seats_left FROM registration_trainingsession
  WHERE id = :session_id FOR UPDATE \\gset
\\if :seats_left > 0
INSERT INTO registration_application
  (session_id, program_id, enrolment_key, person_id, channel, status, holds_seat, answers, review_chain,
   wizard_step, fee_fen, rules_version, rejection_reason, created_by_id, created_at, submitted_at, updated_at)
  VALUES (:session_id, :program_id, 'pgbench:' || txid_current(), :person_id, 'self', 'association_review',
   true, '{"major": "土木工程"}', '{association}', '', 80000, 1, '', :person_id, now(), now(), now())
  RETURNING id AS application_id \\gset
UPDATE registration_trainingsession SET seats_taken = seats_taken + 1 WHERE id = :session_id;
INSERT INTO registration_applicationevent
  (application_id, action, step, from_status, to_status, reason, changes, actor_id, actor_label,
   rules_version, created_at)
  VALUES (:application_id, 'submit', '', '', 'association_review', '', '{}', :person_id, 'pgbench', 1, now());
INSERT INTO shared_auditentry (created_at, actor_id, actor_label, action, object_type, object_id, data)
  VALUES (now(), :person_id, 'pgbench', 'application.pgbench', 'registration.application',
   CAST(:application_id AS text), '{}');
\\endif
COMMIT;
"""
BASELINE_STATEMENTS = 7  # BEGIN, lock, insert application, count seat, event, audit, COMMIT


def pgbench_binary() -> str:
    candidates = [shutil.which("pgbench"), *sorted(glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)]
    try:
        import pgserver

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"))
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("pgbench not found (PATH, /usr/lib/postgresql/*/bin, pgserver)")


def pgbench_tps(
    *, schema: str, session_ids: tuple[int, int], person_id: int, program_id: int, per_client: int
):
    """tps of BASELINE_TRANSACTION run by pgbench (-c 32 -j 2 -t per_client), the session picked at random
    among the contiguous ids `session_ids` (first, last)."""
    first, last = session_ids
    script = f"\\set session_id random({first}, {last})\n" + BASELINE_TRANSACTION
    with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as file:
        file.write(script)
        file.flush()
        command = [
            pgbench_binary(),
            "--no-vacuum",
            "--client",
            str(CLIENTS),
            "--jobs",
            str(PGBENCH_THREADS),
            "--transactions",
            str(per_client),
            "--file",
            file.name,
            "--define",
            f"person_id={person_id}",
            "--define",
            f"program_id={program_id}",
            os.environ["DATABASE_URL"],
        ]
        env = {**os.environ, "PGOPTIONS": f"-c search_path={schema},public"}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr or result.stdout}")
    failed = re.search(r"number of failed transactions: ([0-9]+)", result.stdout)
    check(failed is None or failed.group(1) == "0", f"pgbench transactions failed: {result.stdout}")
    return float(match.group(1))


def baseline(*, tenant, session_count: int, per_client: int, baseline_person: int) -> float:
    """pgbench on `session_count` sessions of a separate program, each with room for every transaction;
    then checks every transaction took exactly one seat."""
    from registration.models import Application, TrainingSession

    row = program(BASELINE_PROGRAM, "pgbench 基准")
    total = CLIENTS * per_client
    sessions = sessions_create(program_row=row, count=session_count, capacity=total, prefix="P")
    ids = sorted(session.pk for session in sessions)
    check(ids[-1] - ids[0] + 1 == len(ids), "baseline session ids are not contiguous")
    tps = pgbench_tps(
        schema=tenant.schema_name,
        session_ids=(ids[0], ids[-1]),
        person_id=baseline_person,
        program_id=row.pk,
        per_client=per_client,
    )
    taken = sum(TrainingSession.objects.filter(pk__in=ids).values_list("seats_taken", flat=True))
    applications = Application.objects.filter(program=row).count()
    check(taken == applications == total, f"pgbench: {applications} applications, {taken} seats, {total} tx")
    return tps


# --- the benchmark -------------------------------------------------------------------------------


def run(report) -> None:
    from registration.models import Application

    tenant = ensure_tenant()
    with schema_context(tenant.schema_name):
        reset()
        people = ensure_people(PEOPLE + WARMUP_PEOPLE)
        contenders, warmers = people[:PEOPLE], people[PEOPLE:]
        row = program()
        (warm_session,) = sessions_create(program_row=row, count=1, capacity=0, prefix="W")
        (session,) = sessions_create(program_row=row, count=1, capacity=CAPACITY, prefix="R")
        with WebServer() as server:
            warm_up(server.port, warmers, warm_session.pk)
            result = rush(server.port, [(token, session.pk) for _, token in contenders])
        codes = result.codes()
        created = result.created()
        session.refresh_from_db()
        holding = Application.objects.filter(session=session, holds_seat=True).count()
        check(len(result.outcomes) == PEOPLE, f"{len(result.outcomes)} answers for {PEOPLE} people")
        check(not [o for o in result.outcomes if o.status >= 500], f"5xx answers: {codes}; see {LOG}")
        check(len(created) == CAPACITY, f"{len(created)} seats sold for {CAPACITY}: {codes}")
        check(codes.get("session_full", 0) == PEOPLE - CAPACITY, f"refusals other than session_full: {codes}")
        check(holding == CAPACITY, f"{holding} applications hold a seat, capacity {CAPACITY}")
        check(session.seats_taken == CAPACITY, f"seats_taken {session.seats_taken}, capacity {CAPACITY}")
        check(Application.objects.filter(session=session).count() == CAPACITY, "applications without a seat")

        sold_out = max(outcome.finished_at for outcome in created) - result.started_at
        everyone = max(outcome.finished_at for outcome in result.outcomes) - result.started_at
        tps = baseline(tenant=tenant, session_count=1, per_client=16, baseline_person=warmers[0][0])
        reset()
    connection.set_schema_to_public()
    report(
        name="enrol_rush",
        value=CAPACITY / sold_out,
        unit="enrolments/s",
        baseline=tps,
        goal="invariants hold (exactly 200 seats, 200 × session_full, 0 × 5xx); ratio tracked, no target set",
        sell_out_s=round(sold_out, 3),
        all_answered_s=round(everyone, 3),
        requests_per_s=round(PEOPLE / everyone, 1),
        latency_p50_ms=result.latency_ms(0.5),
        latency_p95_ms=result.latency_ms(0.95),
        connection_retries=result.retries,
        answers=codes,
        web=f"gunicorn {WEB_WORKERS} workers × {WEB_THREADS} threads",
        clients=CLIENTS,
        note="value = 200 seats / seconds to sell out over HTTP; baseline = pgbench -c 32 -j 2 tps of the "
        "bare seat transaction (lock, check, insert application, count seat, insert event + audit)",
    )

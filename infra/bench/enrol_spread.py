"""enrol_spread: 2,400 people with API tokens apply over real HTTP to 1,000 sessions of 2 seats each, spread
so no one session row is hot (32 clients, gunicorn as in enrol_rush). Then the SQL statements of one
enrolment request, counted server-side.

value = enrolments/s over the run (2,000 seats ÷ seconds until every person has an answer); baseline =
pgbench tps (-c 32 -j 2) of the bare seat transaction with the session drawn at random among 1,000, in
the same run. ratio = value / baseline.

Invariants that fail loudly: every session has exactly its 2 seats taken by 2 applications, the 400
others are answered 422 `session_full`, no 5xx.

enrol_sql_statements: statements one apply request sends to PostgreSQL (Django's test client in this
process, CaptureQueriesContext, warm caches; everything Django sends is counted: django-tenants' per-request
SET search_path, BEGIN/COMMIT and savepoints; only the connection health check is not). baseline = the bare
transaction's 7 statements (BEGIN … COMMIT); goal <= 12. The statements are printed on stderr, and listed in
the JSON line when over budget.
"""

import random
import sys

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from infra.bench.enrol_rush import (
    BASELINE_STATEMENTS,
    BODY,
    HOST,
    LOG,
    WARMUP_PEOPLE,
    WEB_THREADS,
    WEB_WORKERS,
    WebServer,
    baseline,
    check,
    ensure_people,
    ensure_tenant,
    program,
    reset,
    rush,
    sessions_create,
    warm_up,
)

SESSIONS = 1000
SEATS = 2
PEOPLE = 2400
STATEMENT_BUDGET = 12


def _statements_of_one_apply(people: list[tuple[int, str]], session_id: int) -> list[str]:
    """Two people apply in this process: the first warms the caches, the second is counted."""
    client = Client(HTTP_HOST=HOST)
    captured = []
    for index, (_, token) in enumerate(people):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                f"/api/v1/sessions/{session_id}/apply/",
                BODY,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token}",
                HTTP_IDEMPOTENCY_KEY=f"sql-count-{index}",
            )
        check(
            response.status_code == 201, f"counting apply answered {response.status_code}: {response.content}"
        )
        captured = [query["sql"] for query in queries.captured_queries]
    return captured


def run(report) -> None:
    from registration.models import Application, TrainingSession

    tenant = ensure_tenant()
    with schema_context(tenant.schema_name):
        reset()
        people = ensure_people(PEOPLE + WARMUP_PEOPLE + 2)
        contenders = people[:PEOPLE]
        warmers = people[PEOPLE : PEOPLE + WARMUP_PEOPLE]
        counted = people[PEOPLE + WARMUP_PEOPLE :]
        row = program()
        (warm_session,) = sessions_create(program_row=row, count=1, capacity=0, prefix="W")
        sessions = sessions_create(program_row=row, count=SESSIONS, capacity=SEATS, prefix="S")
        jobs = [(token, sessions[index % SESSIONS].pk) for index, (_, token) in enumerate(contenders)]
        random.Random(2026).shuffle(jobs)
        with WebServer() as server:
            warm_up(server.port, warmers, warm_session.pk)
            result = rush(server.port, jobs)
        codes = result.codes()
        ids = [session.pk for session in sessions]
        seats = list(TrainingSession.objects.filter(pk__in=ids).values_list("seats_taken", flat=True))
        applications = Application.objects.filter(session_id__in=ids)
        seats_sold = SESSIONS * SEATS
        check(len(result.outcomes) == PEOPLE, f"{len(result.outcomes)} answers for {PEOPLE} people")
        check(not [o for o in result.outcomes if o.status >= 500], f"5xx answers: {codes}; see {LOG}")
        check(codes.get("created", 0) == seats_sold, f"{codes.get('created', 0)} seats sold of {seats_sold}")
        check(
            codes.get("session_full", 0) == PEOPLE - seats_sold, f"refusals other than session_full: {codes}"
        )
        check(seats == [SEATS] * SESSIONS, f"seats taken per session: {sorted(set(seats))}")
        check(
            applications.count() == applications.filter(holds_seat=True).count() == seats_sold, "seat count"
        )
        everyone = max(outcome.finished_at for outcome in result.outcomes) - result.started_at
        tps = baseline(
            tenant=tenant, session_count=SESSIONS, per_client=PEOPLE // 32, baseline_person=warmers[0][0]
        )

        (count_session,) = sessions_create(program_row=row, count=1, capacity=0, prefix="Q")
        statements = _statements_of_one_apply(counted, count_session.pk)
        reset()
    connection.set_schema_to_public()

    print(f"enrol_sql_statements: {len(statements)} statements in one apply request", file=sys.stderr)
    for number, sql in enumerate(statements, start=1):
        print(f"  {number:2d}. {sql[:200]}", file=sys.stderr)
    report(
        name="enrol_spread",
        value=seats_sold / everyone,
        unit="enrolments/s",
        baseline=tps,
        goal="invariants hold (2 seats × 1000 sessions, 400 × session_full, 0 × 5xx); ratio tracked, no target set",
        all_answered_s=round(everyone, 3),
        requests_per_s=round(PEOPLE / everyone, 1),
        latency_p50_ms=result.latency_ms(0.5),
        latency_p95_ms=result.latency_ms(0.95),
        connection_retries=result.retries,
        answers=codes,
        web=f"gunicorn {WEB_WORKERS} workers × {WEB_THREADS} threads",
        note="value = 2000 seats / seconds until all 2400 people are answered over HTTP; baseline = pgbench "
        "-c 32 -j 2 tps of the bare seat transaction on a random one of 1000 sessions",
    )
    over = len(statements) > STATEMENT_BUDGET
    report(
        name="enrol_sql_statements",
        value=len(statements),
        unit="statements/request",
        baseline=BASELINE_STATEMENTS,
        goal=f"<= {STATEMENT_BUDGET}",
        within_budget=not over,
        **({"statements": [sql[:120] for sql in statements]} if over else {}),
        note="POST /api/v1/sessions/<id>/apply/ in-process, warm caches; SET search_path, BEGIN/COMMIT and "
        "savepoints counted; baseline = the bare seat transaction's statements, BEGIN and COMMIT included",
    )

"""notify_burst: 300 pending WeChat-native orders receive a burst of signed payment notifies over real HTTP.

Every order's notify is delivered DELIVERIES times (the original and its duplicates, each freshly signed with
its own nonce as a gateway's retry is), all shuffled together so that duplicates race; 32 client threads
POST them to `/pay/notify/wechat_native/` on the bench tenant's host, served by gunicorn as in enrol_rush
(the tenant has no merchant keys and PAYMENT_SIMULATOR is on, so the built-in simulator's key verifies them
through the real WeChat Pay v2 parser).

value = notifies/s (all deliveries ÷ seconds from the first request to the last answer); baseline = pgbench
tps (-c 32 -j 2) of the bare SQL work per notify on the same database in the same run: insert the inbox row
(unique key, ON CONFLICT DO NOTHING) and, when it is new, lock payment and order, update the payment, insert
the ledger line, update the order, update the order's applications (plus the event and audit rows the real
transition writes), record the outcome. Its deliveries hit each order ~DELIVERIES times, like the HTTP run.
ratio = value / baseline.

Invariants that fail loudly: 300 paid orders, 300 confirmed payments, exactly one 'payment' ledger line and
one `payment.confirm` audit entry per order, 300 paid applications, NotifyEvent count == 300 (all
`confirmed`), every answer a 200 with the exact WeChat success ACK, no 5xx.

The bench tenant (`benchnotify`, sichuan's rules plus one bench program) and its people are created once and
reused; every billing row, application and audit entry in it is deleted before and after a run.
"""

import http.client
import os
import queue
import random
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from infra.bench.enrol_rush import (
    CLIENTS,
    PGBENCH_THREADS,
    WEB_THREADS,
    WEB_WORKERS,
    WebServer,
    check,
    ensure_people,
    pgbench_binary,
)

SLUG = "benchnotify"
HOST = f"{SLUG}.localhost"
PROGRAM = "bench_notify"
CHANNEL = "wechat_native"
ORDERS = 300
DELIVERIES = 4  # per order: the original notify and 3 duplicates
FEE_FEN = 80000
OPERATOR = "bench-notify-operator"
PATH = f"/pay/notify/{CHANNEL}/"
WARMUP_REQUESTS = 32
PGBENCH_PER_CLIENT = -(-ORDERS * DELIVERIES // CLIENTS)  # ceil: at least as many deliveries as over HTTP
# WeChat Pay v2's success acknowledgement, byte for byte (what wechatpy's dict_to_xml renders).
SUCCESS_ACK = (
    b"<xml>\n<return_code><![CDATA[SUCCESS]]></return_code>\n<return_msg><![CDATA[OK]]></return_msg>\n</xml>"
)
FAIL_ACK = (
    b"<xml>\n<return_code><![CDATA[FAIL]]></return_code>\n<return_msg><![CDATA[FAIL]]></return_msg>\n</xml>"
)


# --- the tenant, its orders ----------------------------------------------------------------------


def _rules():
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "sichuan.toml"))
    data["association"]["slug"] = SLUG
    check(CHANNEL in data["billing"]["channels"], f"sichuan's rules no longer offer {CHANNEL}")
    # A company-paid course with nothing to fill in and no payment-stage pledges: the bench inserts its
    # approved applications directly. Billing (payer = company, channels, cap, split) stays sichuan's.
    data["programs"].append(
        {
            "code": PROGRAM,
            "name": "支付通知基准班",
            "channel": "both",
            "review_chain": [],
            "price": {"fee_fen": FEE_FEN},
            "fields": [],
        }
    )
    return load_rules_data(data, source="bench notify")


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


def reset() -> None:
    """Forget every earlier run in the (dedicated) bench tenant: billing rows, applications, audit."""
    from billing.models import Invoice, LedgerEntry, NotifyEvent, Order, OrderItem, Payment, Refund
    from registration.models import Application, ApplicationEvent, TrainingSession
    from shared.models import AuditEntry

    for model in (LedgerEntry, Invoice, Refund, Payment, OrderItem, Order, NotifyEvent):
        model.objects.all().delete()
    ApplicationEvent.objects.all().delete()
    Application.objects.all().delete()
    TrainingSession.objects.filter(program__code=PROGRAM).delete()
    AuditEntry.objects.all().delete()


def _operator():
    from shared.accounts.models import Company, User, UserKind

    company, _ = Company.objects.get_or_create(name="基准测试监理有限公司")
    operator, _ = User.objects.get_or_create(
        username=OPERATOR, defaults={"name": "基准单位经办人", "kind": UserKind.COMPANY, "company": company}
    )
    check(operator.company_id == company.pk, "bench operator is not the bench company's")
    return operator


def orders_prepare(rules, rules_version: int) -> list:
    """ORDERS approved applications (inserted directly) and, through the services, one open wechat_native
    order with one payment each. Returns the payments (contiguous ids, checked)."""
    from billing.services import OrderRequest, orders_create, payment_create
    from registration.models import Application, ApplicationStatus, Program, TrainingSession

    operator = _operator()
    people = ensure_people(ORDERS)  # the company's people (enrol_rush's helper, in this tenant)
    program, _ = Program.objects.get_or_create(code=PROGRAM, defaults={"name": "支付通知基准班"})
    now = timezone.now()
    session = TrainingSession.objects.create(
        program=program,
        code="N1",
        name="支付通知基准一期",
        fee_fen=FEE_FEN,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=5),
    )
    applications = Application.objects.bulk_create(
        Application(
            session=session,
            program=program,
            enrolment_key=PROGRAM,
            person_id=person_id,
            company_id=operator.company_id,
            channel="company",
            status=ApplicationStatus.APPROVED,
            holds_seat=True,
            with_materials=False,
            fee_fen=FEE_FEN,
            rules_version=rules_version,
            created_by=operator,
            submitted_at=now,
            decided_at=now,
        )
        for person_id, _token in people
    )
    payments = []
    for application in applications:
        (order,) = orders_create(
            rules=rules,
            rules_version=rules_version,
            actor=operator,
            request=OrderRequest(
                application_ids=[application.pk],
                channel=CHANNEL,
                invoice_type=None,
                invoice_title={},
                receipt_email="",
                pledges={},
            ),
        )
        payments.append(payment_create(order_id=order.pk, actor=operator, channel=CHANNEL))
    ids = [payment.pk for payment in payments]
    check(ids == list(range(ids[0], ids[0] + len(ids))), "bench payment ids are not contiguous")
    return payments


# --- the burst -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    finished_at: float
    latency: float


@dataclass
class Burst:
    started_at: float
    answers: list[Answer]
    retries: int

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted(answer.latency for answer in self.answers)
        return round(1000 * latencies[min(len(latencies) - 1, int(quantile * len(latencies)))], 1)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for answer in self.answers:
            key = "ack" if answer.status == 200 and answer.body == SUCCESS_ACK else f"http_{answer.status}"
            if answer.status == 200 and answer.body != SUCCESS_ACK:
                key = "fail_ack" if answer.body == FAIL_ACK else "other_body"
            counts[key] = counts.get(key, 0) + 1
        return counts


def _post(connection_, body: bytes) -> tuple[int, bytes]:
    connection_.request("POST", PATH, body=body, headers={"Host": HOST, "Content-Type": "text/xml"})
    response = connection_.getresponse()
    return response.status, response.read()


def burst(port: int, bodies: list[bytes], clients: int = CLIENTS) -> Burst:
    """POST every body once, `clients` at a time over keep-alive connections. A request whose connection
    dropped is sent again (a gateway retries too; the inbox makes it harmless) and counted in `retries`."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    answers: list[Answer] = []
    retries = [0]
    barrier = threading.Barrier(clients + 1)
    failures: list[BaseException] = []

    def client() -> None:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        try:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                for attempt in (1, 2):
                    started = time.perf_counter()
                    try:
                        status, data = _post(connection_, body)
                        break
                    except (ConnectionError, http.client.HTTPException):
                        connection_.close()
                        if attempt == 2:
                            raise
                        retries[0] += 1
                finished = time.perf_counter()
                answers.append(Answer(status, data, finished, finished - started))
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
    return Burst(started_at=started_at, answers=answers, retries=retries[0])


def warm_up(port: int, provider) -> None:
    """Every worker imports, connects and loads the rules before the clock starts: forged notifies (an
    amount changed after signing) are refused with the failure ACK and store nothing."""
    body = provider.notify_body(out_trade_no="WARMUP0000", amount_fen=1, currency="CNY", paid=True)
    forged = body.replace(b"<total_fee>1</total_fee>", b"<total_fee>2</total_fee>")
    check(forged != body, "warm-up: could not forge the notify")
    outcome = burst(port, [forged] * WARMUP_REQUESTS, clients=WARMUP_REQUESTS)
    check(outcome.statuses() == {"fail_ack": WARMUP_REQUESTS}, f"warm-up failed: {outcome.statuses()}")


# --- the pgbench baseline ------------------------------------------------------------------------

BASELINE_TRANSACTION = """
\\set i :i + 1
\\set c :client_id * :per_client + :i - 1
\\set k ((:c * :stride) % :deliveries) % :orders
\\set payment_id :first_payment + :k
BEGIN;
WITH fresh AS (
  INSERT INTO billing_notifyevent (channel, event_key, payload, outcome, received_at)
  VALUES ('pgbench', 'pay:pgbench' || :k, '{payload}', '', now())
  ON CONFLICT (channel, event_key) DO NOTHING RETURNING id)
SELECT count(*) AS fresh, coalesce(max(id), 0) AS event_id FROM fresh \\gset
\\if :fresh
SELECT order_id, amount_fen FROM billing_payment WHERE id = :payment_id FOR UPDATE \\gset
SELECT status AS order_status FROM billing_order WHERE id = :order_id FOR UPDATE \\gset
UPDATE billing_payment SET status = 'confirmed', provider_txn_id = 'SIM' || out_trade_no,
  confirmed_at = now(), received_fen = :amount_fen WHERE id = :payment_id;
INSERT INTO billing_ledgerentry (order_id, kind, amount_fen, channel, payment_id, created_at)
  VALUES (:order_id, 'pgbench', - :amount_fen, 'wechat_native', :payment_id, now());
INSERT INTO shared_auditentry (created_at, actor_id, actor_label, action, object_type, object_id, data)
  VALUES (now(), NULL, 'pgbench', 'payment.confirm', 'billing.payment', CAST(:payment_id AS text), '{{}}');
UPDATE billing_order SET status = 'paid', paid_at = now() WHERE id = :order_id;
UPDATE registration_application SET status = 'paid', updated_at = now()
  WHERE id IN (SELECT application_id FROM billing_orderitem WHERE order_id = :order_id)
  RETURNING id AS application_id \\gset
INSERT INTO registration_applicationevent
  (application_id, action, step, from_status, to_status, reason, changes, actor_id, actor_label,
   rules_version, created_at)
  VALUES (:application_id, 'pay', '', 'approved', 'paid', '', '{{}}', NULL, 'pgbench', 1, now());
INSERT INTO shared_auditentry (created_at, actor_id, actor_label, action, object_type, object_id, data)
  VALUES (now(), NULL, 'pgbench', 'application.pay', 'registration.application',
   CAST(:application_id AS text), '{{}}'),
  (now(), NULL, 'pgbench', 'order.paid', 'billing.order', CAST(:order_id AS text), '{{}}');
UPDATE billing_notifyevent SET outcome = 'confirmed' WHERE id = :event_id;
\\endif
COMMIT;
"""
STRIDE = 877  # a prime not dividing the delivery count: a deterministic shuffle of the deliveries


def baseline(*, tenant, payments: list, payload: str) -> tuple[float, int]:
    """pgbench tps of BASELINE_TRANSACTION over the bench's own (already paid) payments: each client's
    transaction number c → delivery (c × STRIDE) mod total → payment (delivery mod ORDERS), so every
    payment gets ~DELIVERIES deliveries in a shuffled order. Returns (tps, fresh inbox rows)."""
    from billing.models import NotifyEvent

    deliveries = CLIENTS * PGBENCH_PER_CLIENT
    check(deliveries % STRIDE != 0 and STRIDE % 2 and STRIDE % 3 and STRIDE % 5, "bad stride")
    check(":" not in payload and "'" not in payload, "payload would confuse pgbench's variables")
    script = BASELINE_TRANSACTION.format(payload=payload)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as file:
        file.write(script)
        file.flush()
        defines = {
            "i": 0,
            "per_client": PGBENCH_PER_CLIENT,
            "stride": STRIDE,
            "deliveries": deliveries,
            "orders": len(payments),
            "first_payment": payments[0].pk,
        }
        command = [
            pgbench_binary(),
            "--no-vacuum",
            "--client",
            str(CLIENTS),
            "--jobs",
            str(PGBENCH_THREADS),
            "--transactions",
            str(PGBENCH_PER_CLIENT),
            "--file",
            file.name,
            *[argument for name, value in defines.items() for argument in ("--define", f"{name}={value}")],
            os.environ["DATABASE_URL"],
        ]
        env = {**os.environ, "PGOPTIONS": f"-c search_path={tenant.schema_name},public"}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr or result.stdout}")
    failed = re.search(r"number of failed transactions: ([0-9]+)", result.stdout)
    check(failed is None or failed.group(1) == "0", f"pgbench transactions failed: {result.stdout}")
    fresh = NotifyEvent.objects.filter(channel="pgbench").count()
    done = NotifyEvent.objects.filter(channel="pgbench", outcome="confirmed").count()
    check(
        fresh == done == len(payments), f"pgbench: {fresh} inbox rows, {done} applied, {len(payments)} keys"
    )
    return float(match.group(1)), fresh


# --- the benchmark -------------------------------------------------------------------------------


def _invariants(payments: list, result: Burst, total: int) -> None:
    from django.db.models import Count

    from billing.models import LedgerEntry, NotifyEvent, Order, OrderStatus, Payment, PaymentStatus
    from registration.models import Application, ApplicationStatus
    from shared.models import AuditEntry

    statuses = result.statuses()
    check(len(result.answers) == total, f"{len(result.answers)} answers for {total} deliveries")
    check(not [a for a in result.answers if a.status >= 500], f"5xx answers: {statuses}")
    check(statuses == {"ack": total}, f"answers other than 200 + the success ACK: {statuses}")
    order_ids = [payment.order_id for payment in payments]
    paid = Order.objects.filter(pk__in=order_ids, status=OrderStatus.PAID).count()
    check(paid == ORDERS, f"{paid} orders paid of {ORDERS}")
    confirmed = Payment.objects.filter(status=PaymentStatus.CONFIRMED).count()
    check(confirmed == ORDERS, f"{confirmed} payments confirmed of {ORDERS}")
    ledger = dict(
        LedgerEntry.objects.filter(kind="payment")
        .values("order_id")
        .annotate(count=Count("id"))
        .values_list("order_id", "count")
    )
    check(
        ledger == dict.fromkeys(order_ids, 1),
        f"'payment' ledger lines: {sum(ledger.values())} over {len(ledger)} orders, want 1 per order",
    )
    confirmations = dict(
        AuditEntry.objects.filter(action="payment.confirm")
        .values("object_id")
        .annotate(count=Count("id"))
        .values_list("object_id", "count")
    )
    check(
        confirmations == {str(payment.pk): 1 for payment in payments},
        f"payment confirmations: {sum(confirmations.values())} over {len(confirmations)} payments",
    )
    events = NotifyEvent.objects.count()
    check(events == ORDERS, f"{events} inbox rows, want {ORDERS}")
    outcomes = dict(NotifyEvent.objects.values("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
    check(outcomes == {"confirmed": ORDERS}, f"inbox outcomes: {outcomes}")
    applications = Application.objects.filter(status=ApplicationStatus.PAID).count()
    check(applications == ORDERS, f"{applications} applications paid of {ORDERS}")
    check(Order.objects.exclude(needs_attention="").count() == 0, "orders flagged needs_attention")


def run(report) -> None:
    from billing.providers.simulator import SimulatorProvider
    from tenant_configs.selectors import rules_current, rules_current_version

    tenant = ensure_tenant()
    previous = os.environ.get("PAYMENT_SIMULATOR")
    with schema_context(tenant.schema_name):
        reset()
        rules = rules_current()
        check(CHANNEL in rules.billing.channels, f"the bench tenant's rules do not offer {CHANNEL}")
        version = rules_current_version().number
        payments = orders_prepare(rules, version)
        provider = SimulatorProvider(channel=CHANNEL)
        bodies = [
            provider.notify_body(
                out_trade_no=payment.out_trade_no,
                amount_fen=payment.amount_fen,
                currency=payment.currency,
                paid=True,
            )
            for payment in payments
            for _ in range(DELIVERIES)
        ]
        random.Random(5).shuffle(bodies)
        total = len(bodies)
        os.environ["PAYMENT_SIMULATOR"] = "1"  # the web server's switch (TESTING has it on already)
        try:
            with WebServer() as server:
                warm_up(server.port, provider)
                result = burst(server.port, bodies)
        finally:
            if previous is None:
                os.environ.pop("PAYMENT_SIMULATOR", None)
            else:
                os.environ["PAYMENT_SIMULATOR"] = previous
        _invariants(payments, result, total)
        seconds = max(answer.finished_at for answer in result.answers) - result.started_at
        tps, _fresh = baseline(tenant=tenant, payments=payments, payload=bodies[0].decode())
        reset()
    connection.set_schema_to_public()
    report(
        name="notify_burst",
        value=total / seconds,
        unit="notifies/s",
        baseline=tps,
        goal=f"invariants hold ({ORDERS} paid orders, 1 confirmation + 1 payment ledger line per order, "
        f"{ORDERS} inbox rows, every answer 200 + the success ACK, 0 × 5xx); ratio tracked, no target set",
        orders=ORDERS,
        deliveries=total,
        seconds=round(seconds, 3),
        latency_p50_ms=result.latency_ms(0.5),
        latency_p95_ms=result.latency_ms(0.95),
        connection_retries=result.retries,
        pgbench_transactions=CLIENTS * PGBENCH_PER_CLIENT,
        web=f"gunicorn {WEB_WORKERS} workers × {WEB_THREADS} threads",
        clients=CLIENTS,
        note="value = signed WeChat v2 notifies (each order ×4, shuffled) / seconds over HTTP; baseline = "
        "pgbench -c 32 -j 2 tps of the bare SQL per notify (inbox insert ON CONFLICT DO NOTHING; when new: "
        "lock payment + order, update payment, ledger line, update order + applications, event + audit rows)",
    )

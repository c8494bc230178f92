"""cert_batch_1000: staff issue a 合格证 to 1,000 people at once; the background job issues and renders them.

value = certificates/s through the batch job end to end: `certificate_batch_start` → the Celery task in a
worker (an in-process worker thread, solo pool, in-memory broker; its own database connection, schema
switched by tenant-schemas-celery) → for each application: lock the counter, number, snapshot the holder,
insert, audit, render the PDF with its QR code and store it under the tenant's media folder → batch done.
baseline = PDFs/s rendering the same template directly in this process, from ready-made printouts (no
database, no storage), measured in the same run on the same 1,000 certificates. ratio = value / baseline:
the share of the job's time that is rendering.

Invariants that fail loudly: exactly N certificates, numbered 1..N without a gap or a duplicate, each with
a stored PDF; the batch done with done_count == total == N; the counter at N. After the timing, every stored
PDF is read back (not timed): its text (pdftotext) carries the certificate number and the holder's name, and
the QR code on its page (pdftoppm -r 100, then zbarimg) decodes to exactly the certificate's verification URL.
`text_ok` / `qr_ok` in the output count the PDFs that passed; a missing tool is named in `tools_missing` and
its count is null (the check did not run), never a silent pass.

CERT_BATCH_SIZE overrides N (e.g. 50 for a quick check).
"""

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

SLUG = "benchcert"
PROGRAM = "new_certificate"
KIND = "qualification"
COUNT = int(os.environ.get("CERT_BATCH_SIZE", "1000"))
USERNAME_PREFIX = "bench-cert-"
TIMEOUT_SECONDS = 3600


class InvariantBroken(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantBroken(message)


def _ensure_tenant():
    from django.conf import settings

    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
    from tenants.models import Association
    from tenants.services import tenant_onboard

    connection.set_schema_to_public()
    tenant = Association.objects.filter(slug=SLUG).first()
    if tenant is None:
        # henan: registry on, 合格证 HA{year}{seq:07d} valid 3 years, for the new_certificate program.
        data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "henan.toml"))
        data["association"]["slug"] = SLUG
        # The PDFs must carry the QR code the read-back checks decode.
        data["certificates"]["registry_enabled"] = True
        tenant = tenant_onboard(rules=load_rules_data(data, source="bench cert")).tenant
    return tenant


def _id_number(number: int) -> str:
    from shared.validation import id_number_check_character

    body = f"410102{1960 + number // 1000}0101{number % 1000:03d}"
    return body + id_number_check_character(body)


SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬"


def _ensure_applications(count: int):
    """`count` people of one company, each with a completed application to the program (created once)."""
    from registration.models import Application, Program, TrainingSession
    from shared.accounts.models import Company, PersonProfile, User, UserKind

    program, _ = Program.objects.get_or_create(code=PROGRAM, defaults={"name": "施工现场专业人员新证培训"})
    session, _ = TrainingSession.objects.get_or_create(
        program=program, code="BENCH", defaults={"name": "基准期"}
    )
    company, _ = Company.objects.get_or_create(name="河南基准建设集团有限公司")
    have = set(
        User.objects.filter(username__startswith=USERNAME_PREFIX, kind=UserKind.PERSON).values_list(
            "username", flat=True
        )
    )
    missing = [number for number in range(count) if f"{USERNAME_PREFIX}{number:05d}" not in have]
    if missing:
        users = User.objects.bulk_create(
            User(
                username=f"{USERNAME_PREFIX}{number:05d}",
                password="!",
                kind=UserKind.PERSON,
                name=SURNAMES[number % len(SURNAMES)]
                + GIVEN[number // len(SURNAMES) % len(GIVEN)]
                + GIVEN[number % 7],
                id_number=_id_number(number),
            )
            for number in missing
        )
        PersonProfile.objects.bulk_create(
            PersonProfile(user=user, name=user.name, id_number=user.id_number, company=company)
            for user in users
        )
        Application.objects.bulk_create(
            Application(
                session=session,
                program=program,
                enrolment_key=PROGRAM,
                person=user,
                channel="company",
                company=company,
                status="completed",
                rules_version=1,
            )
            for user in users
        )
    return program, Application.objects.filter(program=program, person__username__startswith=USERNAME_PREFIX)


def _reset() -> None:
    """Certificates of an earlier run go, so every run issues all N again from number 1."""
    from certificates.models import Certificate, CertificateBatch, CertificateCounter
    from shared.models import AuditEntry

    AuditEntry.objects.filter(action__startswith="certificate.").delete()
    Certificate.objects.all().delete()
    CertificateBatch.objects.all().delete()
    CertificateCounter.objects.all().delete()


def _wait_for(batch_id: int):
    from certificates.models import CertificateBatch

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        batch = CertificateBatch.objects.get(pk=batch_id)
        if batch.is_finished:
            return batch
        time.sleep(0.2)
    raise InvariantBroken(f"batch {batch_id} not finished after {TIMEOUT_SECONDS} s")


CHECK_TOOLS = ("pdftotext", "pdftoppm", "zbarimg")
CHECK_THREADS = max(2, (os.cpu_count() or 1) * 2)  # each check waits on subprocesses, not on the GIL


@dataclass(frozen=True)
class PdfExpectation:
    path: str
    number: str
    holder_name: str
    verification_url: str


@dataclass(frozen=True)
class PdfCheck:
    number: str
    text_ok: bool | None  # None: the tool is missing, the check did not run
    qr_ok: bool | None
    problem: str = ""


def _check_pdf(expected: PdfExpectation, *, check_text: bool, check_qr: bool) -> PdfCheck:
    """Read one stored PDF back: its text must carry the number and holder, its QR the verification URL."""
    problems = []
    text_ok = qr_ok = None
    if check_text:
        text = subprocess.run(
            ["pdftotext", "-layout", expected.path, "-"], capture_output=True, text=True, check=False
        ).stdout
        compact = "".join(text.split())  # layout may space out CJK characters
        text_ok = all(value in text or value in compact for value in (expected.number, expected.holder_name))
        if not text_ok:
            problems.append(f"text lacks {expected.number} / {expected.holder_name}")
    if check_qr:
        with tempfile.TemporaryDirectory() as folder:
            prefix = str(Path(folder) / "page")
            subprocess.run(
                ["pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1", "-singlefile", expected.path, prefix],
                capture_output=True,
                check=False,
            )
            decoded = subprocess.run(
                ["zbarimg", "--raw", "-q", prefix + ".png"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
        decoded = [line for line in decoded if line]
        qr_ok = decoded == [expected.verification_url]
        if not qr_ok:
            problems.append(f"QR {decoded!r} != {expected.verification_url!r}")
    return PdfCheck(number=expected.number, text_ok=text_ok, qr_ok=qr_ok, problem="; ".join(problems))


def _check_pdfs(expectations: list[PdfExpectation]) -> dict:
    """Every PDF read back in a small thread pool; the counts for the output line. Fails loudly on a bad one."""
    missing = [tool for tool in CHECK_TOOLS if shutil.which(tool) is None]
    check_text = "pdftotext" not in missing
    check_qr = "pdftoppm" not in missing and "zbarimg" not in missing
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool:
        results = list(
            pool.map(lambda item: _check_pdf(item, check_text=check_text, check_qr=check_qr), expectations)
        )
    text_ok = sum(1 for result in results if result.text_ok) if check_text else None
    qr_ok = sum(1 for result in results if result.qr_ok) if check_qr else None
    failed = [result for result in results if result.problem]
    check(
        not failed,
        f"{len(failed)} of {len(results)} PDFs failed the read-back (text_ok={text_ok}, qr_ok={qr_ok}): "
        + " | ".join(f"{result.number}: {result.problem}" for result in failed[:5]),
    )
    return {
        "text_ok": text_ok,
        "qr_ok": qr_ok,
        "pdfs_checked": len(results),
        "tools_missing": missing,
        "check_seconds": round(time.perf_counter() - started, 2),
    }


def run(report) -> None:
    from celery.contrib.testing.worker import start_worker

    from certificates.models import Certificate, CertificateCounter
    from certificates.numbering import certificate_number
    from certificates.printouts import certificate_printout_pdf
    from certificates.selectors import tenant_primary_host, verification_url
    from certificates.services import certificate_batch_start, certificate_printout
    from shared.accounts.models import StaffRole, User, UserKind
    from shared.celery import app
    from shared.pdf import render_pdf
    from tenant_configs.selectors import rules_current

    tenant = _ensure_tenant()
    original_broker = app.conf.broker_url
    app.conf.broker_url = "memory://"
    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(MEDIA_ROOT=media, MULTITENANT_RELATIVE_MEDIA_ROOT="%s"),
    ):
        with schema_context(tenant.schema_name):
            rules = rules_current()
            check(
                rules.certificates.registry_enabled,
                "the bench tenant's registry is off: its PDFs carry no QR",
            )
            host = tenant_primary_host()
            check(bool(host), "the bench tenant has no domain: its PDFs carry no QR")
            program, applications = _ensure_applications(COUNT)
            check(applications.count() >= COUNT, f"{applications.count()} applications, wanted {COUNT}")
            # Exactly COUNT eligible: any beyond (an earlier, larger run) are set aside for this run.
            keep = list(applications.order_by("pk").values_list("pk", flat=True)[:COUNT])
            applications.exclude(pk__in=keep).update(status="paid")
            applications.filter(pk__in=keep).update(status="completed")
            _reset()
            staff, _ = User.objects.get_or_create(
                username="benchcert-staff",
                defaults={"kind": UserKind.STAFF, "staff_roles": [StaffRole.ADMIN]},
            )
            # Warm the fonts in this process (the worker thread shares it) so neither side pays fontconfig.
            render_pdf(template_name="certificates/print/certificate.html", context={"printout": None})
            with start_worker(
                app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=30
            ):
                started = time.perf_counter()
                batch = certificate_batch_start(
                    rules=rules, kind_code=KIND, program_id=program.pk, actor=staff
                )
                batch = _wait_for(batch.pk)
                job_seconds = time.perf_counter() - started

            check(batch.status == "done", f"batch {batch.status}: {batch.error}")
            check(batch.total == COUNT and batch.done_count == COUNT, f"{batch.done_count}/{batch.total}")
            certificates = list(Certificate.objects.filter(batch=batch).select_related("holder"))
            check(len(certificates) == COUNT, f"{len(certificates)} certificates")
            year = timezone.localtime(certificates[0].issued_at).year
            kind = next(kind for kind in rules.certificates.kinds if kind.code == KIND)
            expected = {
                certificate_number(pattern=kind.numbering_pattern, year=year, seq=seq)
                for seq in range(1, COUNT + 1)
            }
            check({c.number for c in certificates} == expected, "numbers are not exactly 1..N")
            check(all(c.pdf for c in certificates), "a certificate has no stored PDF")
            counter = CertificateCounter.objects.get(kind_code=KIND, year=year)
            check(counter.last_seq == COUNT, f"counter at {counter.last_seq}")
            pdf_bytes = sum(c.pdf.size for c in certificates)

            # Baseline: the same certificates' printouts, rendered directly (no DB, no storage, no task).
            printouts = [certificate_printout(c, rules=rules, host=host) for c in certificates]
            started = time.perf_counter()
            for printout in printouts:
                certificate_printout_pdf(printout)
            direct_seconds = time.perf_counter() - started

            # Read back every stored PDF (after the timing, not part of it).
            checks = _check_pdfs(
                [
                    PdfExpectation(
                        path=c.pdf.path,
                        number=c.number,
                        holder_name=c.holder_snapshot.get("name", ""),
                        verification_url=verification_url(host=host, code=c.verification_code),
                    )
                    for c in certificates
                ]
            )
            _reset()
    app.conf.broker_url = original_broker
    connection.set_schema_to_public()
    report(
        name="cert_batch_1000",
        value=COUNT / job_seconds,
        unit="PDFs/s",
        baseline=COUNT / direct_seconds,
        goal="report (PDFs/s through the job vs direct rendering in one process)",
        certificates=COUNT,
        job_seconds=round(job_seconds, 2),
        direct_seconds=round(direct_seconds, 2),
        average_pdf_kb=round(pdf_bytes / COUNT / 1024, 1),
        worker="1 in-process Celery worker thread (solo pool, memory broker)",
        **checks,
    )

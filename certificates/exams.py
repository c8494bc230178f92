"""Exams: sessions and seats, admission tickets (准考证 / 测试证), scores entered or imported by staff, and the
association's review of passes, which issues the qualification certificate (合格证).

The decisions (valid score, pass, who may sit, when a ticket prints, which file rows are good) are pure
functions in certificates.rules_exams; this module reads and writes under the right locks. Seats are
consumed under the session's row lock, applications locked after it in id order (a fixed order).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import python_calamine
from django.db import transaction
from django.utils import timezone

from certificates.models import (
    EXAM_ENTRY_TRANSITIONS,
    Certificate,
    CertificateCounter,
    ExamEntry,
    ExamEntryStatus,
    ExamSession,
    ExamSessionKind,
    Score,
    ScoreSource,
)
from certificates.numbering import certificate_number
from certificates.rules_exams import (
    Refusal,
    RowError,
    ScoreFileRow,
    print_window,
    qualification_kind,
    score_parse,
    score_passes,
    score_rows_check,
    seat_refusal,
    ticket_kind,
    ticket_refusal,
)
from certificates.services import certificate_issue, holder_snapshot
from learning.selectors import completion_deadline, course_completed
from registration.models import Application, Program
from shared.accounts.models import User
from shared.documents.models import Document
from shared.errors import CodedError
from shared.pdf import image_data_uri, render_pdf
from shared.services import audit_record
from tenant_configs.schema import CertificateCondition, Rules

logger = logging.getLogger(__name__)

DEFAULT_TICKET_PATTERN = "{year}{seq:06d}"
# The counter row that numbers admission tickets (CertificateCounter.kind_code); tickets are not
# certificates, so they never take a number from a certificate kind's own counter.
TICKET_COUNTER = "exam_ticket"
SCORE_FILE_MAX_BYTES = 2 * 1024 * 1024
SCORE_FILE_MAX_ROWS = 5000
TICKET_TEMPLATE = "certificates/print/exam_ticket.html"


class ExamError(CodedError):
    """A refusal: forbidden, invalid_session, unknown_program, no_seats, not_eligible, already_assigned,
    already_passed, retake_not_allowed, retake_needs_failure, retake_required, print_not_open,
    print_closed, exam_over, invalid_state, score_* (see rules_exams), bad_file, rows_rejected,
    nothing_to_review."""

    def __init__(self, code: str, message: str, *, row_errors: list[RowError] | None = None) -> None:
        super().__init__(code, message)
        self.row_errors = row_errors or []


def _refuse(refusal: Refusal) -> ExamError:
    return ExamError(refusal.code, refusal.message)


def _require_staff(actor: User) -> None:
    if not actor.is_association_staff:
        raise ExamError("forbidden", "只有协会工作人员可以管理考试")


# ---------------------------------------------------------------------------------------------------------
# sessions and seats
# ---------------------------------------------------------------------------------------------------------


def exam_session_create(
    *,
    program_id: int,
    name: str,
    kind: str,
    starts_at: datetime,
    location: str,
    seats: int,
    print_opens_at: datetime,
    print_closes_at: datetime,
    actor: User,
) -> ExamSession:
    """Staff create an exam session. Raises ExamError (`forbidden`, `invalid_session`,
    `unknown_program`)."""
    _require_staff(actor)
    name, location = (name or "").strip(), (location or "").strip()
    if not name or not location:
        raise ExamError("invalid_session", "请填写考试名称和考试地点")
    if kind not in ExamSessionKind.values:
        raise ExamError("invalid_session", "考试类型不正确")
    if seats < 1:
        raise ExamError("invalid_session", "座位数至少为 1")
    if print_opens_at >= print_closes_at:
        raise ExamError("invalid_session", "打印结束时间须晚于开始时间")
    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        raise ExamError("unknown_program", "培训项目不存在")
    with transaction.atomic():
        session = ExamSession.objects.create(
            program=program,
            name=name,
            kind=kind,
            starts_at=starts_at,
            location=location,
            seats=seats,
            print_opens_at=print_opens_at,
            print_closes_at=print_closes_at,
            created_by=actor,
        )
        audit_record(
            actor=actor, action="exam.session_create", target=session, data={"program": program.code}
        )
    return session


def _next_ticket_number(*, rules: Rules, program: Program, now: datetime) -> str:
    """The next ticket number from the ticket kind's numbering pattern (under the counter's row lock)."""
    kind = ticket_kind(rules.certificates.kinds, program.code)
    pattern = kind.numbering_pattern if kind is not None else DEFAULT_TICKET_PATTERN
    year = timezone.localtime(now).year
    CertificateCounter.objects.bulk_create(
        [CertificateCounter(kind_code=TICKET_COUNTER, year=year)], ignore_conflicts=True
    )
    counter = CertificateCounter.objects.select_for_update().get(kind_code=TICKET_COUNTER, year=year)
    seq = counter.last_seq + 1
    number = certificate_number(pattern=pattern, year=year, seq=seq, program=program.code)
    while ExamEntry.objects.filter(ticket_number=number).exists():
        seq += 1
        number = certificate_number(pattern=pattern, year=year, seq=seq, program=program.code)
    counter.last_seq = seq
    counter.save(update_fields=["last_seq"])
    return number


def _results(application_id: int) -> tuple[bool, ...]:
    return tuple(Score.objects.filter(entry__application_id=application_id).values_list("passed", flat=True))


def exam_seats_assign(
    *,
    rules: Rules,
    session_id: int,
    actor: User,
    application_ids: list[int] | None = None,
    now: datetime | None = None,
) -> list[ExamEntry]:
    """Give seats (next free seat numbers) and ticket numbers in the session.

    With `application_ids`, exactly those applications, all or nothing: any one not eligible (see
    rules_exams.seat_refusal) or more than the free seats refuses the whole call. Without, every eligible
    application of the session's program without a seat, oldest first, as many as there are free seats.

    Raises ExamError (`forbidden`, `no_seats`, `not_eligible`, `already_assigned`, `already_passed`,
    `retake_not_allowed`, `retake_needs_failure`, `retake_required`) and ExamSession.DoesNotExist.
    """
    _require_staff(actor)
    now = now or timezone.now()
    exam = rules.certificates.exams
    explicit = application_ids is not None
    with transaction.atomic():
        session = ExamSession.objects.select_for_update().select_related("program").get(pk=session_id)
        if explicit:
            candidates = Application.objects.filter(pk__in=application_ids, program=session.program)
            if candidates.count() != len(set(application_ids)):
                raise ExamError("not_eligible", "所选报名不属于本考试的培训项目")
        else:
            candidates = Application.objects.filter(program=session.program).exclude(
                exam_entries__session=session
            )
        applications = list(candidates.select_for_update(of=("self",)).order_by("pk"))
        chosen: list[Application] = []
        for application in applications:
            refusal = seat_refusal(
                exam=exam,
                session_kind=session.kind,
                application_status=application.status,
                holds_open_seat=ExamEntry.objects.filter(
                    application=application, status=ExamEntryStatus.ASSIGNED
                ).exists(),
                results=_results(application.pk),
            )
            if refusal is None:
                chosen.append(application)
            elif explicit:
                raise ExamError(refusal.code, f"{application.person}：{refusal.message}")
        free = session.seats - session.seats_taken
        if explicit and len(chosen) > free:
            raise ExamError("no_seats", f"座位不足：剩余 {free} 个，需要 {len(chosen)} 个")
        chosen = chosen[:free]
        if not chosen and explicit is False and free == 0:
            raise ExamError("no_seats", "本场考试座位已满")
        last_seat = (
            ExamEntry.objects.filter(session=session)
            .order_by("-seat_number")
            .values_list("seat_number", flat=True)
            .first()
            or 0
        )
        entries = []
        for offset, application in enumerate(chosen, start=1):
            entries.append(
                ExamEntry.objects.create(
                    session=session,
                    application=application,
                    seat_number=last_seat + offset,
                    ticket_number=_next_ticket_number(rules=rules, program=session.program, now=now),
                    assigned_at=now,
                    assigned_by=actor,
                )
            )
        if entries:
            session.seats_taken += len(entries)
            session.save(update_fields=["seats_taken"])
            audit_record(
                actor=actor,
                action="exam.seats_assign",
                target=session,
                data={"applications": [entry.application_id for entry in entries]},
            )
    return entries


# ---------------------------------------------------------------------------------------------------------
# admission tickets
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketPrintout:
    association_name: str
    title: str
    ticket_number: str
    holder_name: str
    id_number: str
    company_name: str
    program_name: str
    exam_name: str
    exam_kind: str
    starts_at: datetime
    location: str
    seat_number: int
    photo: bytes | None = None
    photo_content_type: str = ""


def ticket_printout_pdf(printout: TicketPrintout) -> bytes:
    photo_uri = image_data_uri(printout.photo, printout.photo_content_type) if printout.photo else ""
    return render_pdf(template_name=TICKET_TEMPLATE, context={"printout": printout, "photo_uri": photo_uri})


def _photo(*, document_id: int | None, owner_id: int) -> tuple[bytes | None, str]:
    if not document_id:
        return None, ""
    document = Document.objects.filter(pk=document_id, owner_id=owner_id).first()
    if document is None or not document.is_image:
        return None, ""
    try:
        with document.file.open("rb") as handle:
            return handle.read(), document.content_type
    except FileNotFoundError:
        logger.warning("exam ticket: photo document %s has no file", document_id)
        return None, ""


def exam_ticket_window(*, rules: Rules, entry: ExamEntry) -> tuple[datetime, datetime]:
    kind = ticket_kind(rules.certificates.kinds, entry.session.program.code)
    return print_window(
        opens_at=entry.session.print_opens_at, closes_at=entry.session.print_closes_at, kind=kind
    )


def exam_ticket_refusal(*, rules: Rules, entry: ExamEntry, now: datetime | None = None) -> Refusal | None:
    """Why the entry's ticket cannot be printed now, or None (what the pages show next to the button)."""
    kind = ticket_kind(rules.certificates.kinds, entry.session.program.code)
    learned = False
    if kind is not None and kind.condition == CertificateCondition.AFTER_LEARNING_COMPLETION:
        program = entry.session.program
        learned = course_completed(
            person=entry.application.person,
            program=program,
            by=completion_deadline(program=program, rules=rules),
        )
    return ticket_refusal(
        now=now or timezone.now(),
        opens_at=entry.session.print_opens_at,
        closes_at=entry.session.print_closes_at,
        kind=kind,
        application_status=entry.application.status,
        entry_status=entry.status,
        learning_completed=learned,
    )


def exam_ticket_pdf(*, rules: Rules, entry: ExamEntry, viewer: User, now: datetime | None = None) -> bytes:
    """The admission ticket (准考证 / 测试证) of an entry the selector let `viewer` see, with the holder's
    current photo. Refused outside the printing window or before the application is eligible. A print
    by anyone but the holder is audit-logged (it carries the full ID number).

    Raises ExamError (`print_not_open`, `print_closed`, `not_eligible`, `exam_over`).
    """
    refusal = exam_ticket_refusal(rules=rules, entry=entry, now=now)
    if refusal is not None:
        raise _refuse(refusal)
    holder = entry.application.person
    snapshot = holder_snapshot(rules=rules, holder=holder)
    photo, photo_type = _photo(document_id=snapshot.get("photo_document_id"), owner_id=holder.pk)
    kind = ticket_kind(rules.certificates.kinds, entry.session.program.code)
    data = ticket_printout_pdf(
        TicketPrintout(
            association_name=rules.association.name,
            title=kind.title if kind is not None else "准考证",
            ticket_number=entry.ticket_number,
            holder_name=snapshot["name"],
            id_number=snapshot["id_number"],
            company_name=snapshot["company_name"],
            program_name=entry.session.program.name,
            exam_name=entry.session.name,
            exam_kind=entry.session.get_kind_display(),
            starts_at=timezone.localtime(entry.session.starts_at),
            location=entry.session.location,
            seat_number=entry.seat_number,
            photo=photo,
            photo_content_type=photo_type,
        )
    )
    if viewer.pk != holder.pk:
        audit_record(actor=viewer, action="exam.ticket_print", target=entry)
    return data


# ---------------------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------------------


def _record_score(*, entry: ExamEntry, score, passed: bool, source: str, actor: User, now: datetime) -> Score:
    record = Score.objects.create(
        entry=entry, score=score, passed=passed, source=source, entered_by=actor, entered_at=now
    )
    entry.status = ExamEntryStatus.SCORED
    entry.save(update_fields=["status"])
    return record


def exam_score_enter(
    *, rules: Rules, entry_id: int, score: str, actor: User, now: datetime | None = None
) -> Score:
    """Staff enter one score; `passed` comes from the tenant's pass score. Raises ExamError (`forbidden`,
    `score_missing`, `score_not_a_number`, `score_out_of_range`, `score_too_precise`, `invalid_state`)
    and ExamEntry.DoesNotExist."""
    _require_staff(actor)
    exam = rules.certificates.exams
    value = score_parse(score, exam=exam)
    if isinstance(value, Refusal):
        raise _refuse(value)
    with transaction.atomic():
        entry = ExamEntry.objects.select_for_update().get(pk=entry_id)
        if ExamEntryStatus.SCORED not in EXAM_ENTRY_TRANSITIONS[entry.status]:
            raise ExamError("invalid_state", "该考生已录入成绩或已记缺考")
        record = _record_score(
            entry=entry,
            score=value,
            passed=score_passes(value, exam=exam),
            source=ScoreSource.MANUAL,
            actor=actor,
            now=now or timezone.now(),
        )
        audit_record(actor=actor, action="exam.score_enter", target=entry, data={"score": str(value)})
    return record


def exam_entry_mark_absent(*, entry_id: int, actor: User) -> ExamEntry:
    """缺考. A no-op when already absent. Raises ExamError (`forbidden`, `invalid_state`)."""
    _require_staff(actor)
    with transaction.atomic():
        entry = ExamEntry.objects.select_for_update().get(pk=entry_id)
        if entry.status == ExamEntryStatus.ABSENT:
            return entry
        if ExamEntryStatus.ABSENT not in EXAM_ENTRY_TRANSITIONS[entry.status]:
            raise ExamError("invalid_state", "该考生已录入成绩")
        entry.status = ExamEntryStatus.ABSENT
        entry.save(update_fields=["status"])
        audit_record(actor=actor, action="exam.absent", target=entry)
    return entry


_HEADER_NOISE = re.compile(r"[\s*＊]+")
HEADERS = {"身份证号": "id_number", "准考证号": "ticket_number", "测试证号": "ticket_number", "成绩": "score"}


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def score_file_rows(data: bytes) -> list[ScoreFileRow]:
    """The data rows of a score workbook (first sheet; header row with 身份证号 and/or 准考证号, and 成绩).
    Raises ExamError(`bad_file`) for a file that is not a readable .xlsx or lacks the columns."""
    if len(data) > SCORE_FILE_MAX_BYTES:
        raise ExamError("bad_file", "文件过大（不超过 2 MB）")
    try:
        sheet = python_calamine.CalamineWorkbook.from_object(io.BytesIO(data)).get_sheet_by_index(0)
        values = sheet.to_python(skip_empty_area=False)
    except (python_calamine.CalamineError, ValueError, IndexError):
        raise ExamError("bad_file", "无法读取文件，请上传 Excel（.xlsx）成绩表") from None
    if not values:
        raise ExamError("bad_file", "文件是空的")
    positions: dict[str, int] = {}
    for index, cell in enumerate(values[0]):
        key = HEADERS.get(_HEADER_NOISE.sub("", _cell_text(cell)))
        if key and key not in positions:
            positions[key] = index
    if "score" not in positions or not ({"id_number", "ticket_number"} & positions.keys()):
        raise ExamError("bad_file", "表头须包含「身份证号」或「准考证号」，以及「成绩」")
    if len(values) - 1 > SCORE_FILE_MAX_ROWS:
        raise ExamError("bad_file", f"一次最多导入 {SCORE_FILE_MAX_ROWS} 行")

    def cell(row: list[object], key: str) -> object:
        index = positions.get(key)
        return row[index] if index is not None and index < len(row) else None

    rows = []
    for number, row in enumerate(values[1:], start=2):
        if all(_cell_text(value) == "" for value in row):
            continue
        score = cell(row, "score")
        rows.append(
            ScoreFileRow(
                row=number,
                id_number=_cell_text(cell(row, "id_number")),
                ticket_number=_cell_text(cell(row, "ticket_number")),
                score=score.strip() if isinstance(score, str) else ("" if score is None else score),
            )
        )
    if not rows:
        raise ExamError("bad_file", "文件中没有成绩")
    return rows


def _id_number_of(application: Application) -> str:
    profile = getattr(application.person, "profile", None)
    return ((profile.id_number if profile else "") or application.person.id_number or "").upper()


@dataclass(frozen=True)
class ScoreImportResult:
    imported: int
    passed: int


def exam_scores_import(
    *, rules: Rules, session_id: int, data: bytes, actor: User, now: datetime | None = None
) -> ScoreImportResult:
    """Import a session's scores from an .xlsx (身份证号 / 准考证号 + 成绩), all or nothing: when any row is
    wrong (unknown ID, out-of-range score, duplicate row, already scored), nothing is imported and
    ExamError(`rows_rejected`) carries every row's error.

    Raises ExamError (`forbidden`, `bad_file`, `rows_rejected`) and ExamSession.DoesNotExist.
    """
    _require_staff(actor)
    rows = score_file_rows(data)
    now = now or timezone.now()
    with transaction.atomic():
        session = ExamSession.objects.select_for_update().get(pk=session_id)
        entries = list(
            ExamEntry.objects.select_for_update(of=("self",))
            .select_related("application__person__profile")
            .filter(session=session)
            .order_by("pk")
        )
        lines, errors = score_rows_check(
            rows,
            exam=rules.certificates.exams,
            entries_by_id_number={_id_number_of(entry.application): entry.pk for entry in entries},
            entries_by_ticket={entry.ticket_number.upper(): entry.pk for entry in entries},
            scored_entry_ids=frozenset(
                entry.pk for entry in entries if entry.status != ExamEntryStatus.ASSIGNED
            ),
        )
        if errors:
            raise ExamError("rows_rejected", f"有 {len(errors)} 行错误，未导入任何成绩", row_errors=errors)
        by_id = {entry.pk: entry for entry in entries}
        for line in lines:
            _record_score(
                entry=by_id[line.entry_id],
                score=line.score,
                passed=line.passed,
                source=ScoreSource.IMPORT,
                actor=actor,
                now=now,
            )
        result = ScoreImportResult(imported=len(lines), passed=sum(line.passed for line in lines))
        audit_record(
            actor=actor,
            action="exam.scores_import",
            target=session,
            data={"imported": result.imported, "passed": result.passed},
        )
    return result


# ---------------------------------------------------------------------------------------------------------
# review of passes → qualification certificate
# ---------------------------------------------------------------------------------------------------------


def exam_passes_review(
    *, rules: Rules, session_id: int, actor: User, now: datetime | None = None
) -> list[Score]:
    """成绩确认: the association confirms every pass of the session not yet reviewed, and each holder gets
    the qualification certificate (the kind with condition after_pass_and_review for the program, if the
    rules have one) through certificate_issue. All or nothing; reviewing again finds nothing new.

    Raises ExamError (`forbidden`, `nothing_to_review`), CertificateError and ExamSession.DoesNotExist.
    """
    _require_staff(actor)
    now = now or timezone.now()
    with transaction.atomic():
        session = ExamSession.objects.select_for_update().select_related("program").get(pk=session_id)
        scores = list(
            Score.objects.select_for_update(of=("self",))
            .select_related("entry__application__person", "entry__application__program")
            .filter(entry__session=session, passed=True, pass_reviewed_at__isnull=True)
            .order_by("pk")
        )
        if not scores:
            raise ExamError("nothing_to_review", "没有待确认的合格成绩")
        kind = qualification_kind(rules.certificates.kinds, session.program.code)
        for score in scores:
            score.pass_reviewed_at = now
            score.pass_reviewed_by = actor
            fields = ["pass_reviewed_at", "pass_reviewed_by"]
            if kind is not None:
                application = score.entry.application
                certificate: Certificate = certificate_issue(
                    rules=rules,
                    kind_code=kind.code,
                    holder=application.person,
                    application=application,
                    actor=actor,
                    now=now,
                )
                score.certificate = certificate
                fields.append("certificate")
            score.save(update_fields=fields)
        audit_record(
            actor=actor,
            action="exam.passes_review",
            target=session,
            data={"scores": [score.pk for score in scores], "kind": kind.code if kind else ""},
        )
    return scores

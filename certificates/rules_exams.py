"""Exam rules as pure functions: is a score valid, does it pass, may this application sit this session,
may its admission ticket be printed now, and which rows of a score file are good.

Plain values and the tenant's typed rules in, a decision out: no database, so every combination of rules
is tested with parametrized cases (tests/unit/test_exam_rules.py). Refusals carry a stable `code` and a
Chinese message; the services raise them as ExamError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from tenant_configs.schema import CertificateCondition, CertificateKindRules, ExamRules

ONE_DECIMAL = Decimal("0.1")

# Application statuses (registration.models.ApplicationStatus values) that hold an enrolment a seat may
# be given to: the review chain approved it.
SEATABLE_STATUSES = frozenset({"approved", "paid", "completed"})
PAID_STATUSES = frozenset({"paid", "completed"})

# When an admission ticket may be printed, by its kind's condition. Learning records are not linked yet:
# a completed application stands for "finished the learning" (as in certificates.selectors).
TICKET_STATUSES: dict[str, frozenset[str]] = {
    CertificateCondition.AFTER_APPROVAL: frozenset({"approved", "paid", "completed"}),
    CertificateCondition.AFTER_PAYMENT: frozenset({"paid", "completed"}),
    CertificateCondition.AFTER_PAYMENT_APPROVAL: frozenset({"paid", "completed"}),
    CertificateCondition.AFTER_LEARNING_COMPLETION: frozenset({"completed"}),
}
# No ticket kind in the rules (or one with another condition): the seat itself is the permission.
DEFAULT_TICKET_STATUSES = SEATABLE_STATUSES

TICKET_KINDS = ("admission_ticket", "test_card")


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


# --- scores ------------------------------------------------------------------------------------------


def score_parse(raw: object, *, exam: ExamRules) -> Decimal | Refusal:
    """A score as typed or read from Excel: a number from 0 to max_score with at most one decimal."""
    if isinstance(raw, bool) or raw is None:
        return Refusal("score_missing", "请填写成绩")
    if isinstance(raw, float):
        # Excel stores every number as a float: show 120.0 as 120, as the person typed it.
        text = str(int(raw)) if raw.is_integer() else repr(raw)
    else:
        text = str(raw).strip()
    if not text:
        return Refusal("score_missing", "请填写成绩")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return Refusal("score_not_a_number", f"成绩「{text}」不是数字")
    if not value.is_finite():
        return Refusal("score_not_a_number", f"成绩「{text}」不是数字")
    if value < 0 or value > exam.max_score:
        return Refusal("score_out_of_range", f"成绩 {text} 超出范围（0～{exam.max_score}）")
    if value != value.quantize(ONE_DECIMAL):
        return Refusal("score_too_precise", f"成绩 {text} 最多保留一位小数")
    return value.quantize(ONE_DECIMAL)


def score_passes(score: Decimal, *, exam: ExamRules) -> bool:
    """合格: at least the tenant's pass score."""
    return score >= exam.pass_score


# --- seats -------------------------------------------------------------------------------------------


def seat_refusal(
    *,
    exam: ExamRules,
    session_kind: str,
    application_status: str,
    holds_open_seat: bool,
    results: tuple[bool, ...],
) -> Refusal | None:
    """May this application get a seat in a session of `session_kind` ("normal" / "retake")?

    `results` are the application's earlier scored sittings (True = passed); `holds_open_seat` says it
    already has a seat not yet scored (no double-booking). A retake (补考) is only for those who sat and
    failed, and only when the rules allow retakes; someone who passed never sits again.
    """
    if application_status not in SEATABLE_STATUSES:
        return Refusal("not_eligible", "报名未通过审核，不能安排考试")
    if holds_open_seat:
        return Refusal("already_assigned", "已安排在其他考试场次")
    if any(results):
        return Refusal("already_passed", "已通过考试，不能再次安排")
    if session_kind == "retake":
        if not exam.retake_allowed:
            return Refusal("retake_not_allowed", "本协会不安排补考")
        if not results:
            return Refusal("retake_needs_failure", "补考仅限考试不合格的人员")
    elif results:
        return Refusal("retake_required", "已参加过考试，请安排补考")
    return None


# --- admission tickets -------------------------------------------------------------------------------


def ticket_kind(kinds: tuple[CertificateKindRules, ...], program_code: str) -> CertificateKindRules | None:
    """The tenant's admission ticket (准考证) or test card (测试证) for the program, if it has one."""
    for kind in kinds:
        if str(kind.kind) in TICKET_KINDS and (not kind.programs or program_code in kind.programs):
            return kind
    return None


def qualification_kind(
    kinds: tuple[CertificateKindRules, ...], program_code: str
) -> CertificateKindRules | None:
    """The certificate issued once a pass is reviewed (condition after_pass_and_review), if any."""
    for kind in kinds:
        if kind.condition == CertificateCondition.AFTER_PASS_AND_REVIEW and (
            not kind.programs or program_code in kind.programs
        ):
            return kind
    return None


def print_window(
    *, opens_at: datetime, closes_at: datetime, kind: CertificateKindRules | None
) -> tuple[datetime, datetime]:
    """The session's printing window, shortened to the kind's print_window_days when that is set."""
    if kind is not None and kind.print_window_days:
        closes_at = min(closes_at, opens_at + timedelta(days=kind.print_window_days))
    return opens_at, closes_at


def ticket_refusal(
    *,
    now: datetime,
    opens_at: datetime,
    closes_at: datetime,
    kind: CertificateKindRules | None,
    application_status: str,
    entry_status: str,
    learning_completed: bool = False,
) -> Refusal | None:
    """May the admission ticket be printed now: inside the printing window, the application eligible by
    the ticket kind's condition, the seat still open (not scored or marked absent). For a kind issued after
    learning, a paid application counts once `learning_completed` (every course finished by the deadline)."""
    opens_at, closes_at = print_window(opens_at=opens_at, closes_at=closes_at, kind=kind)
    if now < opens_at:
        return Refusal("print_not_open", f"准考证打印时间未到（{opens_at:%Y-%m-%d %H:%M} 开始）")
    if now >= closes_at:
        return Refusal("print_closed", "准考证打印时间已过")
    statuses = DEFAULT_TICKET_STATUSES
    if kind is not None:
        statuses = TICKET_STATUSES.get(kind.condition, DEFAULT_TICKET_STATUSES)
    learned = (
        kind is not None
        and kind.condition == CertificateCondition.AFTER_LEARNING_COMPLETION
        and learning_completed
        and application_status in PAID_STATUSES
    )
    if application_status not in statuses and not learned:
        return Refusal("not_eligible", "尚未满足打印条件（请先完成缴费或学习）")
    if entry_status != "assigned":
        return Refusal("exam_over", "考试已结束")
    return None


# --- score files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreFileRow:
    """One data row of a score file: its Excel row number, the identifiers it gives, the raw score."""

    row: int
    id_number: str
    ticket_number: str
    score: object


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass(frozen=True)
class ScoreLine:
    entry_id: int
    score: Decimal
    passed: bool


def score_rows_check(
    rows: list[ScoreFileRow],
    *,
    exam: ExamRules,
    entries_by_id_number: dict[str, int],
    entries_by_ticket: dict[str, int],
    scored_entry_ids: frozenset[int],
) -> tuple[list[ScoreLine], list[RowError]]:
    """Match each row to an entry of the session (by 准考证号, else 身份证号) and check its score.

    Every problem is reported with its row: unknown ID, out-of-range score, duplicate row, already scored.
    The caller imports the lines only when there are no errors (all or nothing).
    """
    lines: list[ScoreLine] = []
    errors: list[RowError] = []
    first_row: dict[int, int] = {}
    for row in rows:
        ticket = row.ticket_number.strip().upper()
        id_number = row.id_number.strip().upper()
        if ticket:
            entry_id = entries_by_ticket.get(ticket)
            label = f"准考证号 {ticket}"
        elif id_number:
            entry_id = entries_by_id_number.get(id_number)
            label = f"身份证号 {id_number}"
        else:
            errors.append(RowError(row.row, "缺少身份证号或准考证号"))
            continue
        if entry_id is None:
            errors.append(RowError(row.row, f"{label} 不是本场考试的考生"))
            continue
        if entry_id in first_row:
            errors.append(RowError(row.row, f"{label} 与第 {first_row[entry_id]} 行重复"))
            continue
        first_row[entry_id] = row.row
        if entry_id in scored_entry_ids:
            errors.append(RowError(row.row, f"{label} 已录入成绩或已记缺考"))
            continue
        score = score_parse(row.score, exam=exam)
        if isinstance(score, Refusal):
            errors.append(RowError(row.row, score.message))
            continue
        lines.append(ScoreLine(entry_id=entry_id, score=score, passed=score_passes(score, exam=exam)))
    return lines, errors

"""The pure exam rules (certificates/rules_exams.py): scores, passes, seats, ticket printing, score files."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from certificates.rules_exams import (
    Refusal,
    RowError,
    ScoreFileRow,
    ScoreLine,
    print_window,
    qualification_kind,
    score_parse,
    score_passes,
    score_rows_check,
    seat_refusal,
    ticket_kind,
    ticket_refusal,
)
from tenant_configs.schema import CertificateKindRules, ExamRules

EXAM = ExamRules(max_score=100, pass_score=60, retake_allowed=True)
NO_RETAKE = ExamRules(max_score=100, pass_score=60, retake_allowed=False)
OPENS = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
CLOSES = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


def _kind(**changes) -> CertificateKindRules:
    values = {"code": "admission_ticket", "kind": "admission_ticket", "title": "准考证"}
    return CertificateKindRules(**{**values, **changes})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", Decimal("0.0")),
        ("100", Decimal("100.0")),
        (" 59.5 ", Decimal("59.5")),
        (85, Decimal("85.0")),
        (85.5, Decimal("85.5")),
        ("60.0", Decimal("60.0")),
    ],
)
def test_valid_scores_have_one_decimal(raw, expected):
    assert score_parse(raw, exam=EXAM) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "score_missing"),
        (None, "score_missing"),
        (True, "score_missing"),
        ("八十", "score_not_a_number"),
        ("NaN", "score_not_a_number"),
        ("Infinity", "score_not_a_number"),
        ("-1", "score_out_of_range"),
        ("100.1", "score_out_of_range"),
        (101, "score_out_of_range"),
        ("59.55", "score_too_precise"),
        (85.25, "score_too_precise"),
    ],
)
def test_invalid_scores_are_refused_with_a_code(raw, code):
    result = score_parse(raw, exam=EXAM)
    assert isinstance(result, Refusal)
    assert result.code == code


def test_max_score_comes_from_the_rules():
    assert score_parse("120", exam=ExamRules(max_score=150, pass_score=90)) == Decimal("120.0")
    assert score_parse("120", exam=EXAM).code == "score_out_of_range"


@pytest.mark.parametrize(
    ("score", "pass_score", "passed"),
    [("60.0", 60, True), ("59.9", 60, False), ("100", 60, True), ("0", 0, True), ("89.9", 90, False)],
)
def test_pass_is_at_least_the_pass_score(score, pass_score, passed):
    assert score_passes(Decimal(score), exam=ExamRules(max_score=100, pass_score=pass_score)) is passed


@pytest.mark.parametrize(
    ("exam", "session_kind", "status", "open_seat", "results", "code"),
    [
        (EXAM, "normal", "approved", False, (), None),
        (EXAM, "normal", "paid", False, (), None),
        (EXAM, "normal", "completed", False, (), None),
        (EXAM, "normal", "association_review", False, (), "not_eligible"),
        (EXAM, "normal", "rejected", False, (), "not_eligible"),
        (EXAM, "normal", "withdrawn", False, (), "not_eligible"),
        (EXAM, "normal", "paid", True, (), "already_assigned"),
        (EXAM, "normal", "paid", False, (True,), "already_passed"),
        (EXAM, "normal", "paid", False, (False,), "retake_required"),
        (EXAM, "retake", "paid", False, (False,), None),
        (EXAM, "retake", "paid", False, (False, False), None),
        (EXAM, "retake", "paid", False, (False, True), "already_passed"),
        (EXAM, "retake", "paid", False, (True,), "already_passed"),
        (EXAM, "retake", "paid", False, (), "retake_needs_failure"),
        (NO_RETAKE, "retake", "paid", False, (False,), "retake_not_allowed"),
    ],
)
def test_who_may_get_a_seat(exam, session_kind, status, open_seat, results, code):
    refusal = seat_refusal(
        exam=exam,
        session_kind=session_kind,
        application_status=status,
        holds_open_seat=open_seat,
        results=results,
    )
    assert (refusal.code if refusal else None) == code


@pytest.mark.parametrize(
    ("now", "kind", "status", "entry_status", "code"),
    [
        (OPENS, _kind(), "approved", "assigned", None),
        (OPENS - timedelta(seconds=1), _kind(), "approved", "assigned", "print_not_open"),
        (CLOSES - timedelta(seconds=1), _kind(), "approved", "assigned", None),
        (CLOSES, _kind(), "approved", "assigned", "print_closed"),
        # print_window_days shortens the session's window
        (OPENS + timedelta(days=3), _kind(print_window_days=3), "approved", "assigned", "print_closed"),
        (OPENS + timedelta(days=2), _kind(print_window_days=3), "approved", "assigned", None),
        # eligibility by the ticket kind's condition
        (OPENS, _kind(condition="after_payment"), "approved", "assigned", "not_eligible"),
        (OPENS, _kind(condition="after_payment"), "paid", "assigned", None),
        (OPENS, _kind(condition="after_learning_completion"), "paid", "assigned", "not_eligible"),
        (OPENS, _kind(condition="after_learning_completion"), "completed", "assigned", None),
        (OPENS, None, "approved", "assigned", None),
        (OPENS, None, "association_review", "assigned", "not_eligible"),
        (OPENS, _kind(), "approved", "scored", "exam_over"),
        (OPENS, _kind(), "approved", "absent", "exam_over"),
    ],
)
def test_when_a_ticket_prints(now, kind, status, entry_status, code):
    refusal = ticket_refusal(
        now=now,
        opens_at=OPENS,
        closes_at=CLOSES,
        kind=kind,
        application_status=status,
        entry_status=entry_status,
    )
    assert (refusal.code if refusal else None) == code


def test_print_window_keeps_the_session_end_when_it_is_earlier():
    assert print_window(opens_at=OPENS, closes_at=CLOSES, kind=_kind(print_window_days=30)) == (OPENS, CLOSES)
    assert print_window(opens_at=OPENS, closes_at=CLOSES, kind=None) == (OPENS, CLOSES)


def test_ticket_and_qualification_kinds_are_found_by_kind_and_program():
    ticket = _kind(programs=("new_certificate",))
    card = _kind(code="test_card", kind="test_card", title="测试证")
    qualification = _kind(
        code="qualification", kind="qualification", title="合格证", condition="after_pass_and_review"
    )
    assert ticket_kind((ticket, qualification), "new_certificate") == ticket
    assert ticket_kind((ticket, qualification), "continuing") is None
    assert ticket_kind((card,), "anything") == card
    assert qualification_kind((ticket, qualification), "x") == qualification
    assert qualification_kind((ticket, card), "x") is None


ID_1 = "11010519491231002X"
ID_2 = "510104199001011234"


def _check(rows, scored=frozenset()):
    return score_rows_check(
        rows,
        exam=EXAM,
        entries_by_id_number={ID_1: 1, ID_2: 2},
        entries_by_ticket={"HAZK2026000001": 1, "HAZK2026000002": 2},
        scored_entry_ids=scored,
    )


def test_good_score_rows_become_lines_by_id_or_ticket():
    lines, errors = _check(
        [ScoreFileRow(2, ID_1.lower(), "", "75.5"), ScoreFileRow(3, "", "hazk2026000002", 59)]
    )
    assert errors == []
    assert lines == [
        ScoreLine(entry_id=1, score=Decimal("75.5"), passed=True),
        ScoreLine(entry_id=2, score=Decimal("59.0"), passed=False),
    ]


def test_every_bad_row_is_reported_with_its_row_number():
    lines, errors = _check(
        [
            ScoreFileRow(2, "110101199001010000", "", "80"),
            ScoreFileRow(3, ID_1, "", "101"),
            ScoreFileRow(4, ID_2, "", "70"),
            ScoreFileRow(5, "", "HAZK2026000002", "71"),
            ScoreFileRow(6, "", "", "50"),
            ScoreFileRow(7, "", "HAZK2026999999", "50"),
        ]
    )
    assert errors == [
        RowError(2, "身份证号 110101199001010000 不是本场考试的考生"),
        RowError(3, "成绩 101 超出范围（0～100）"),
        RowError(5, "准考证号 HAZK2026000002 与第 4 行重复"),
        RowError(6, "缺少身份证号或准考证号"),
        RowError(7, "准考证号 HAZK2026999999 不是本场考试的考生"),
    ]
    assert lines == [ScoreLine(entry_id=2, score=Decimal("70.0"), passed=True)]


def test_an_entry_already_scored_is_a_row_error():
    _lines, errors = _check([ScoreFileRow(2, ID_1, "", "80")], scored=frozenset({1}))
    assert errors == [RowError(2, f"身份证号 {ID_1} 已录入成绩或已记缺考")]


@pytest.mark.parametrize(
    ("status", "learned", "code"),
    [
        ("paid", True, None),  # paid and every course finished by the deadline (learning.selectors)
        ("paid", False, "not_eligible"),
        ("approved", True, "not_eligible"),  # not paid: learning alone is not enough
        ("completed", False, None),  # the training is over: completed stands for it
    ],
)
def test_a_test_card_after_learning_needs_the_courses_finished(status, learned, code):
    kind = _kind(code="test_card", kind="test_card", title="测试证", condition="after_learning_completion")
    refusal = ticket_refusal(
        now=OPENS + timedelta(days=1),
        opens_at=OPENS,
        closes_at=CLOSES,
        kind=kind,
        application_status=status,
        entry_status="assigned",
        learning_completed=learned,
    )
    assert (refusal.code if refusal else None) == code

"""The heartbeat rule (learning/rules.py) and the Range header parser: plain values, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from learning.rules import (
    Outcome,
    RangeNotSatisfiable,
    WatchState,
    byte_range,
    heartbeat_accept,
    idle_limit,
    is_completed,
)
from tenant_configs.schema import VideoPolicy

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STRICT = VideoPolicy(
    forbid_seek_ahead=True, idle_pause_minutes=20, heartbeat_seconds=15, max_playback_rate=1.0
)


def state(*, last_position=30.0, furthest=30.0, duration=600.0, confirmed_minutes_ago=1, last_seconds_ago=0):
    return WatchState(
        last_heartbeat_at=T0 - timedelta(seconds=last_seconds_ago),
        last_position=last_position,
        confirmed_at=T0 - timedelta(minutes=confirmed_minutes_ago),
        furthest_second=furthest,
        duration_seconds=duration,
    )


def beat(current, position, *, after, policy=STRICT):
    return heartbeat_accept(
        state=current, position=position, now=T0 + timedelta(seconds=after), policy=policy
    )


@pytest.mark.parametrize(
    ("last_position", "furthest", "position", "after", "outcome", "new_furthest", "added"),
    [
        # Real-time watching at the frontier moves it.
        (30.0, 30.0, 45.0, 15, Outcome.ADVANCED, 45.0, 15.0),
        # Within the tolerance of 1.5 s.
        (30.0, 30.0, 46.5, 15, Outcome.ADVANCED, 46.5, 16.5),
        # Just past it: faster than real time, beyond the frontier.
        (30.0, 30.0, 46.6, 15, Outcome.AHEAD_OF_REAL_TIME, 30.0, 0.0),
        # A jump far ahead (dragging the bar).
        (30.0, 30.0, 500.0, 15, Outcome.AHEAD_OF_REAL_TIME, 30.0, 0.0),
        # Re-watching inside what was watched adds watched time, not frontier.
        (10.0, 100.0, 25.0, 15, Outcome.ADVANCED, 100.0, 15.0),
        # Watching across the frontier from behind it extends it.
        (95.0, 100.0, 110.0, 15, Outcome.ADVANCED, 110.0, 15.0),
        # Backwards: position only.
        (100.0, 100.0, 20.0, 15, Outcome.SEEKED, 100.0, 0.0),
        # Standing still (paused).
        (30.0, 30.0, 30.0, 15, Outcome.SEEKED, 30.0, 0.0),
        # A jump forward within what was watched is a seek, not watching.
        (10.0, 100.0, 90.0, 15, Outcome.SEEKED, 100.0, 0.0),
        # A long silence banks no time: at most 2 × 15 s + 1.5 s of playing between heartbeats.
        (30.0, 30.0, 61.5, 600, Outcome.ADVANCED, 61.5, 31.5),
        (30.0, 30.0, 64.0, 600, Outcome.AHEAD_OF_REAL_TIME, 30.0, 0.0),
    ],
)
def test_heartbeat_on_a_strict_policy(last_position, furthest, position, after, outcome, new_furthest, added):
    decision = beat(
        state(last_position=last_position, furthest=furthest, confirmed_minutes_ago=0), position, after=after
    )

    assert decision.outcome == outcome
    assert decision.furthest_second == pytest.approx(new_furthest)
    assert decision.watched_seconds_added == pytest.approx(added)
    assert decision.accepted is (outcome in (Outcome.ADVANCED, Outcome.SEEKED))
    expected_position = last_position if not decision.accepted else position
    assert decision.position == pytest.approx(expected_position)


@pytest.mark.parametrize(
    ("rate", "position", "outcome"),
    [
        (2.0, 59.0, Outcome.ADVANCED),
        (2.0, 63.0, Outcome.AHEAD_OF_REAL_TIME),
        (1.5, 52.5, Outcome.ADVANCED),
        (1.5, 54.1, Outcome.AHEAD_OF_REAL_TIME),
    ],
)
def test_the_playback_rate_widens_the_budget(rate, position, outcome):
    policy = STRICT.model_copy(update={"max_playback_rate": rate})

    assert beat(state(), position, after=15, policy=policy).outcome == outcome


@pytest.mark.parametrize("after", [0, 0.2, 0.99, -5])
def test_heartbeats_closer_than_physically_possible_are_refused(after):
    decision = beat(state(), 30.5, after=after)

    assert decision.outcome == Outcome.TOO_FREQUENT
    assert (decision.position, decision.furthest_second, decision.watched_seconds_added) == (30.0, 30.0, 0.0)


@pytest.mark.parametrize("position", [-0.1, 601.6, float("nan"), float("inf")])
def test_positions_outside_the_video_are_refused(position):
    decision = beat(state(), position, after=15)

    assert decision.outcome == Outcome.INVALID_POSITION
    assert not decision.accepted


def test_a_position_within_tolerance_of_the_end_is_clamped_to_the_end_and_completes():
    decision = beat(state(last_position=590.0, furthest=590.0), 601.0, after=15)

    assert decision.outcome == Outcome.ADVANCED
    assert decision.position == 600.0
    assert decision.furthest_second == 600.0
    assert decision.completed is True


@pytest.mark.parametrize(
    ("confirmed_minutes_ago", "outcome"),
    [
        (0, Outcome.ADVANCED),
        (20, Outcome.ADVANCED),
        (20.26, Outcome.ADVANCED),
        (20.3, Outcome.CONFIRMATION_REQUIRED),
        (45, Outcome.CONFIRMATION_REQUIRED),
    ],
)
def test_after_the_idle_pause_nothing_counts_until_confirmed(confirmed_minutes_ago, outcome):
    # The limit is 20 min plus one heartbeat (15 s) plus 1.5 s of grace = 20.275 min.
    current = WatchState(
        last_heartbeat_at=T0 - timedelta(seconds=15),
        last_position=30.0,
        confirmed_at=T0 - timedelta(minutes=confirmed_minutes_ago),
        furthest_second=30.0,
        duration_seconds=600.0,
    )
    decision = heartbeat_accept(state=current, position=45.0, now=T0, policy=STRICT)

    assert decision.outcome == outcome
    if outcome == Outcome.CONFIRMATION_REQUIRED:
        assert (decision.position, decision.furthest_second, decision.watched_seconds_added) == (
            30.0,
            30.0,
            0.0,
        )


def test_no_idle_pause_when_the_rules_set_none():
    policy = STRICT.model_copy(update={"idle_pause_minutes": 0})

    assert idle_limit(policy) is None
    assert beat(state(confirmed_minutes_ago=600), 45.0, after=15, policy=policy).outcome == Outcome.ADVANCED


@pytest.mark.parametrize(
    ("last_position", "furthest", "position", "outcome", "new_furthest"),
    [
        # Seeking ahead allowed: the jump is accepted as a seek, the skipped part is not watched.
        (30.0, 30.0, 500.0, Outcome.SEEKED, 30.0),
        # Watching after such a seek does not move the frontier (it is not contiguous with it).
        (500.0, 30.0, 515.0, Outcome.ADVANCED, 30.0),
    ],
)
def test_seeking_ahead_when_allowed_never_counts(last_position, furthest, position, outcome, new_furthest):
    policy = STRICT.model_copy(update={"forbid_seek_ahead": False})

    decision = beat(state(last_position=last_position, furthest=furthest), position, after=15, policy=policy)

    assert decision.outcome == outcome
    assert decision.furthest_second == new_furthest


@pytest.mark.parametrize(("furthest", "completed"), [(598.9, False), (599.0, True), (600.0, True)])
def test_completion_is_the_frontier_at_the_end(furthest, completed):
    assert is_completed(furthest, 600.0) is completed


def test_refusals_carry_a_message_and_acceptances_none():
    assert beat(state(), 500.0, after=15).message.startswith("进度超过实际观看时间")
    assert beat(state(), 45.0, after=15).message == ""


# --- Range ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=999-999", (999, 999)),
        ("BYTES = 5-9", (5, 9)),
        # Ignored (the whole file is sent): other units, several ranges, malformed.
        ("items=0-5", None),
        ("bytes=0-5,10-20", None),
        ("bytes=abc-", None),
        ("bytes=5-1", None),
        ("bytes=-", None),
        ("bytes", None),
    ],
)
def test_byte_range(header, expected):
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 1000)

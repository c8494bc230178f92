"""Whether a heartbeat of a watch session moves a person's progress: a pure function of plain values.

A heartbeat reports where the player is. The server compares it with the last accepted heartbeat: the
position may advance at most as far as the wall time elapsed allows at the highest permitted playback
rate (plus a small tolerance for network jitter). Only a segment watched in real time that starts
within what was already watched moves the frontier (`furthest_second`), so the frontier can only grow
contiguously from the start. Seeking backwards (or, within watched parts, forwards) is accepted and
counts nothing; jumping beyond the frontier is refused when the rules forbid seeking ahead, and never
counts. After `idle_pause_minutes` without a "still here" click nothing counts until the click.

No database here: `services.heartbeat_record` loads the state under a lock and applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tenant_configs.schema import VideoPolicy

# Slack for network jitter and player clock granularity, in seconds of video.
TOLERANCE_SECONDS = 1.5
# Two heartbeats closer than this cannot both come from a player reporting progress.
MIN_HEARTBEAT_INTERVAL_SECONDS = 1.0
# A lesson counts as completed once the frontier is this close to its end (players stop a frame short).
COMPLETION_TOLERANCE_SECONDS = 1.0


class Outcome(StrEnum):
    ADVANCED = "advanced"  # real-time watching; the frontier and watched time may grow
    SEEKED = "seeked"  # a jump within what was already watched (or backwards): position only
    AHEAD_OF_REAL_TIME = "ahead_of_real_time"  # beyond the frontier faster than real time: refused
    TOO_FREQUENT = "too_frequent"
    CONFIRMATION_REQUIRED = "confirmation_required"
    INVALID_POSITION = "invalid_position"


REFUSALS: dict[Outcome, str] = {
    Outcome.AHEAD_OF_REAL_TIME: "进度超过实际观看时间：不能快进，也不能超过允许的倍速",
    Outcome.TOO_FREQUENT: "进度上报过于频繁",
    Outcome.CONFIRMATION_REQUIRED: "视频已自动暂停，请点击“继续学习”后再播放",
    Outcome.INVALID_POSITION: "播放位置无效",
}


@dataclass(frozen=True)
class WatchState:
    """What the server knows before the heartbeat: the session's last accepted point and the progress."""

    last_heartbeat_at: datetime
    last_position: float
    confirmed_at: datetime
    furthest_second: float
    duration_seconds: float


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    # The state after the heartbeat (unchanged when refused).
    position: float
    furthest_second: float
    # Seconds of real-time watching this heartbeat adds (re-watching included).
    watched_seconds_added: float
    completed: bool

    @property
    def accepted(self) -> bool:
        return self.outcome in (Outcome.ADVANCED, Outcome.SEEKED)

    @property
    def message(self) -> str:
        return REFUSALS.get(self.outcome, "")


def idle_limit(policy: VideoPolicy) -> timedelta | None:
    """How long after the last "still here" click heartbeats still count (one heartbeat of grace)."""
    if not policy.idle_pause_minutes:
        return None
    return timedelta(minutes=policy.idle_pause_minutes, seconds=policy.heartbeat_seconds + TOLERANCE_SECONDS)


def is_completed(furthest_second: float, duration_seconds: float) -> bool:
    return furthest_second >= duration_seconds - COMPLETION_TOLERANCE_SECONDS


def heartbeat_accept(*, state: WatchState, position: float, now: datetime, policy: VideoPolicy) -> Decision:
    """Decide what a heartbeat reporting `position` (seconds) at server time `now` does to `state`."""

    def refuse(outcome: Outcome) -> Decision:
        return Decision(
            outcome=outcome,
            position=state.last_position,
            furthest_second=state.furthest_second,
            watched_seconds_added=0.0,
            completed=is_completed(state.furthest_second, state.duration_seconds),
        )

    if not (0 <= position <= state.duration_seconds + TOLERANCE_SECONDS):  # also refuses NaN
        return refuse(Outcome.INVALID_POSITION)
    position = min(position, float(state.duration_seconds))
    elapsed = (now - state.last_heartbeat_at).total_seconds()
    if elapsed < MIN_HEARTBEAT_INTERVAL_SECONDS:
        return refuse(Outcome.TOO_FREQUENT)
    limit = idle_limit(policy)
    if limit is not None and now - state.confirmed_at > limit:
        return refuse(Outcome.CONFIRMATION_REQUIRED)

    # A long silence (paused, tab in the background) does not bank time: at most two heartbeat intervals
    # of playing can lie between two heartbeats of a playing video.
    counted_elapsed = min(elapsed, 2 * policy.heartbeat_seconds + TOLERANCE_SECONDS)
    budget = counted_elapsed * policy.max_playback_rate + TOLERANCE_SECONDS
    advance = position - state.last_position
    within_watched = position <= state.furthest_second + TOLERANCE_SECONDS

    if advance <= 0 or (advance > budget and within_watched):
        # Backwards, or a jump to a point already watched: the player moved, nothing was watched.
        return Decision(
            outcome=Outcome.SEEKED,
            position=position,
            furthest_second=state.furthest_second,
            watched_seconds_added=0.0,
            completed=is_completed(state.furthest_second, state.duration_seconds),
        )
    if advance > budget:
        if policy.forbid_seek_ahead:
            return refuse(Outcome.AHEAD_OF_REAL_TIME)
        # Seeking ahead is allowed by the rules, but what was skipped is not watched.
        return Decision(
            outcome=Outcome.SEEKED,
            position=position,
            furthest_second=state.furthest_second,
            watched_seconds_added=0.0,
            completed=is_completed(state.furthest_second, state.duration_seconds),
        )
    # Watched in real time from last_position to position. The frontier moves only when the segment starts
    # within what was already watched: it grows contiguously from the start of the video.
    furthest = state.furthest_second
    if state.last_position <= state.furthest_second + TOLERANCE_SECONDS:
        furthest = max(furthest, position)
    return Decision(
        outcome=Outcome.ADVANCED,
        position=position,
        furthest_second=furthest,
        watched_seconds_added=advance,
        completed=is_completed(furthest, state.duration_seconds),
    )


# --- HTTP Range (RFC 9110 §14) --------------------------------------------------------------------------


class RangeNotSatisfiable(ValueError):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single `Range: bytes=…` header for a file of `size` bytes.

    None means "send the whole file" (no header, another unit, several ranges or a malformed header,
    which RFC 9110 lets a server ignore). Raises RangeNotSatisfiable when the range lies outside the file.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not (first_text.isdigit() or first_text == "") or not (last_text.isdigit() or last_text == ""):
        return None
    if first_text == "":
        if last_text == "":
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size:
        raise RangeNotSatisfiable(header)
    if last < first:
        return None
    return first, min(last, size - 1)

"""Learning operations: courses and lessons (staff), watch sessions and heartbeats (persons).

Every heartbeat is decided by `rules.heartbeat_accept` under a row lock on the person's progress in the
lesson, so concurrent heartbeats are applied one after the other against the latest state.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from certificates.continuing_education import ce_hours_from_learning
from learning import rules as engine
from learning.models import VIDEO_EXTENSIONS, Course, CourseCompletion, Lesson, LessonProgress, WatchSession
from learning.selectors import person_enrolled_in_course
from registration.models import Program
from shared.accounts.models import User, UserKind
from shared.services import audit_record
from tenant_configs.schema import Rules

# The largest video a lesson may have; the reverse proxy's limit for the upload path matches it.
logger = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 2 * 1024 * 1024 * 1024


class LearningError(Exception):
    """A refusal with a stable machine `code` and a message for people (zh-hans)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _require_staff(actor: User) -> None:
    if not actor.is_association_staff:
        raise LearningError("forbidden", "只有协会工作人员可以管理课程")


def _require_enabled(rules: Rules) -> None:
    if not rules.learning.enabled:
        raise LearningError("learning_disabled", "本协会未开通在线学习")


# --- courses and lessons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseInput:
    title: str
    program: Program | None = None
    description: str = ""
    test_on: date | None = None


@dataclass(frozen=True)
class LessonInput:
    title: str
    order: int
    duration_seconds: int


def video_format(head: bytes) -> str | None:
    """The content type of a video from its first bytes (never from the name or what the browser said)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


def course_create(*, rules: Rules, actor: User, data: CourseInput) -> Course:
    """Create a course. Raises LearningError: forbidden (not staff), learning_disabled, title_required."""
    _require_staff(actor)
    _require_enabled(rules)
    title = data.title.strip()
    if not title:
        raise LearningError("title_required", "请填写课程名称")
    with transaction.atomic():
        course = Course.objects.create(
            program=data.program,
            title=title,
            description=data.description.strip(),
            test_on=data.test_on,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="learning.course_create",
            target=course,
            data={"program": data.program.code if data.program else None, "title": title},
        )
    return course


def lesson_create(*, rules: Rules, actor: User, course: Course, data: LessonInput, video: File) -> Lesson:
    """Add a lesson with its video (MP4 or WebM, decided from the content) to the tenant's private storage.

    Raises LearningError: forbidden, learning_disabled, title_required, duration_invalid, video_format
    (not MP4/WebM), video_too_large. Nothing is stored on refusal.
    """
    _require_staff(actor)
    _require_enabled(rules)
    title = data.title.strip()
    if not title:
        raise LearningError("title_required", "请填写课件名称")
    if data.duration_seconds <= 0:
        raise LearningError("duration_invalid", "时长须为正整数（秒）")
    if video.size is None or video.size > MAX_VIDEO_BYTES:
        raise LearningError("video_too_large", "视频文件过大")
    video.seek(0)
    content_type = video_format(video.read(16))
    video.seek(0)
    if content_type is None:
        raise LearningError("video_format", "视频须为 MP4 或 WebM 格式")
    lesson = Lesson(
        course=course,
        title=title,
        order=data.order,
        duration_seconds=data.duration_seconds,
        content_type=content_type,
        size_bytes=video.size,
    )
    stored_name = ""
    try:
        with transaction.atomic():
            lesson.video.save(f"video{VIDEO_EXTENSIONS[content_type]}", video, save=False)
            stored_name = lesson.video.name
            lesson.save()
            audit_record(
                actor=actor,
                action="learning.lesson_create",
                target=lesson,
                data={"course": course.pk, "title": title, "size_bytes": video.size},
            )
    except BaseException:
        if stored_name:
            lesson.video.storage.delete(stored_name)
        raise
    return lesson


# --- watching ---------------------------------------------------------------------------------------------


def watch_start(
    *, rules: Rules, person: User, lesson: Lesson, user_agent: str = "", now: datetime | None = None
) -> WatchSession:
    """Open a watch session (its token authorises the heartbeats) and close the person's other sessions.

    The session starts at the person's last position when the rules allow resuming, else at 0.

    Raises LearningError: learning_disabled, not_enrolled (not a person with a paid application for the
    course's program, or the course is unpublished). Nothing changes on refusal.
    """
    _require_enabled(rules)
    if person.kind != UserKind.PERSON or not person_enrolled_in_course(person=person, course=lesson.course):
        raise LearningError("not_enrolled", "您没有报名该课程，或尚未完成缴费")
    now = now or timezone.now()
    with transaction.atomic():
        progress, _ = LessonProgress.objects.get_or_create(person=person, lesson=lesson)
        WatchSession.objects.filter(person=person, ended_at__isnull=True).update(ended_at=now)
        position = progress.last_position if rules.learning.video.resume else 0.0
        if engine.is_completed(position, lesson.duration_seconds):
            position = 0.0  # a finished lesson is watched again from the start
        return WatchSession.objects.create(
            token=secrets.token_urlsafe(32),
            person=person,
            lesson=lesson,
            started_at=now,
            last_heartbeat_at=now,
            last_position=position,
            confirmed_at=now,
            user_agent=user_agent[:300],
        )


@dataclass(frozen=True)
class HeartbeatResult:
    decision: engine.Decision
    progress: LessonProgress
    course_completed: bool


def _session_for(*, token: str, person: User) -> WatchSession:
    session = WatchSession.objects.select_for_update().select_related("lesson").filter(token=token).first()
    # Another person's token is answered exactly like an unknown one.
    if session is None or session.person_id != person.pk:
        raise LearningError("session_not_found", "观看记录不存在，请刷新页面")
    if session.ended_at is not None:
        raise LearningError("session_ended", "该视频已在其他页面播放，请刷新页面")
    return session


def _progress_locked(*, person: User, lesson_id: int) -> LessonProgress:
    """The progress row, locked: concurrent heartbeats of one person and lesson are decided one by one."""
    return LessonProgress.objects.select_for_update().get(person=person, lesson_id=lesson_id)


def heartbeat_record(
    *, rules: Rules, person: User, token: str, position: float, now: datetime | None = None
) -> HeartbeatResult:
    """Apply one heartbeat (the player's position, in seconds) of the person's watch session.

    Locks the progress row, then the session. An accepted heartbeat moves the session and the progress
    (frontier, watched time, last position; completion when the frontier reaches the end, and the course's
    completion when every lesson is completed). A refused one is logged and
    returned as the decision, changing nothing, so the player can react (snap back, ask for the click).

    Raises LearningError: learning_disabled, session_not_found (unknown or another person's token),
    session_ended, not_enrolled (no longer enrolled). Nothing changes then.
    """
    _require_enabled(rules)
    now = now or timezone.now()
    with transaction.atomic():
        probe = WatchSession.objects.filter(token=token, person=person).values("lesson_id").first()
        if probe is None:
            raise LearningError("session_not_found", "观看记录不存在，请刷新页面")
        # Fixed lock order: progress, then session (watch_start takes no session lock after progress either).
        progress = _progress_locked(person=person, lesson_id=probe["lesson_id"])
        session = _session_for(token=token, person=person)
        lesson = session.lesson
        if not person_enrolled_in_course(person=person, course=lesson.course):
            raise LearningError("not_enrolled", "您没有报名该课程，或尚未完成缴费")
        decision = engine.heartbeat_accept(
            state=engine.WatchState(
                last_heartbeat_at=session.last_heartbeat_at,
                last_position=session.last_position,
                confirmed_at=session.confirmed_at,
                furthest_second=progress.furthest_second,
                duration_seconds=float(lesson.duration_seconds),
            ),
            position=position,
            now=now,
            policy=rules.learning.video,
        )
        if not decision.accepted:
            # A refusal changes nothing; it is only logged (a pattern of them is worth a look by staff).
            logger.info(
                "learning.heartbeat_refused",
                extra={"session": session.pk, "outcome": decision.outcome.value, "position": position},
            )
            return HeartbeatResult(decision=decision, progress=progress, course_completed=False)
        session.last_heartbeat_at = now
        session.last_position = decision.position
        session.heartbeats_accepted += 1
        session.save(update_fields=["last_heartbeat_at", "last_position", "heartbeats_accepted"])
        progress.furthest_second = decision.furthest_second
        progress.watched_seconds += decision.watched_seconds_added
        progress.last_position = decision.position
        progress.updated_at = now
        fields = ["furthest_second", "watched_seconds", "last_position", "updated_at"]
        newly_completed = decision.completed and progress.completed_at is None
        if newly_completed:
            progress.completed_at = now
            fields.append("completed_at")
        progress.save(update_fields=fields)
        course_done = False
        if newly_completed:
            audit_record(
                actor=person, action="learning.lesson_complete", target=progress, data={"lesson": lesson.pk}
            )
            course_done = _course_complete_if_done(person=person, course=lesson.course, now=now)
            if course_done:  # continuing education: the course's hours count for the certificate
                ce_hours_from_learning(rules=rules, person=person, course=lesson.course, now=now)
    return HeartbeatResult(decision=decision, progress=progress, course_completed=course_done)


def _course_complete_if_done(*, person: User, course: Course, now: datetime) -> bool:
    lessons = course.lessons.count()
    done = LessonProgress.objects.filter(
        person=person, lesson__course=course, completed_at__isnull=False
    ).count()
    if lessons == 0 or done < lessons:
        return False
    _completion, created = CourseCompletion.objects.get_or_create(
        person=person, course=course, defaults={"completed_at": now}
    )
    if created:
        audit_record(actor=person, action="learning.course_complete", target=course, data={})
    return True


def idle_confirm(*, rules: Rules, person: User, token: str, now: datetime | None = None) -> WatchSession:
    """The "still here" click: heartbeats count again for another `idle_pause_minutes`.

    The click does not bank time: the next heartbeat is measured from it, so minutes spent paused in front
    of the dialog never count as watching. Raises LearningError: learning_disabled, session_not_found,
    session_ended.
    """
    _require_enabled(rules)
    now = now or timezone.now()
    with transaction.atomic():
        session = _session_for(token=token, person=person)
        session.confirmed_at = now
        session.last_heartbeat_at = now
        session.save(update_fields=["confirmed_at", "last_heartbeat_at"])
    return session

"""Video courses (视频课件) and the server's record of who watched what, in real time.

A lesson's video is a private file of the tenant (MEDIA_ROOT/<schema>/learning/videos/<uuid><ext>), served
only by `views.lesson_video` to persons enrolled in the course's program. Progress is never taken from the
client: `LessonProgress` moves only when a heartbeat of a `WatchSession` passes `rules.heartbeat_accept`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# The only video formats a lesson can have, decided from the file's first bytes (`services.video_format`).
VIDEO_EXTENSIONS: dict[str, str] = {"video/mp4": ".mp4", "video/webm": ".webm"}


def lesson_video_upload_to(instance: Lesson, filename: str) -> str:
    """`learning/videos/<uuid><extension>`; the uploader's file name never reaches the file system."""
    return f"learning/videos/{uuid.uuid4().hex}{VIDEO_EXTENSIONS.get(instance.content_type, '.bin')}"


class Course(models.Model):
    """A set of video lessons. With a program, only persons enrolled (paid) in it may watch."""

    program = models.ForeignKey(
        "registration.Program",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="courses",
        verbose_name="培训项目",
    )
    title = models.CharField("课程名称", max_length=120)
    description = models.TextField("课程说明", blank=True)
    # The day of the test (机考) the course prepares for: the completion deadline is counted back from it.
    test_on = models.DateField("测试日期", null=True, blank=True)
    is_published = models.BooleanField("已发布", default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "课程"
        verbose_name_plural = "课程"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons", verbose_name="课程")
    title = models.CharField("课件名称", max_length=120)
    order = models.PositiveIntegerField("顺序", default=1)
    duration_seconds = models.PositiveIntegerField("时长（秒）")
    video = models.FileField("视频", upload_to=lesson_video_upload_to, max_length=200)
    content_type = models.CharField("视频格式", max_length=30)
    size_bytes = models.PositiveBigIntegerField("文件大小（字节）")
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "课件"
        verbose_name_plural = "课件"
        ordering = ["course", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(duration_seconds__gt=0), name="learning_lesson_has_duration"
            )
        ]

    def __str__(self) -> str:
        return f"{self.course} · {self.title}"


class LessonProgress(models.Model):
    """One person's progress in one lesson. Seconds are positions in the video (float, as players report)."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="lesson_progress",
        verbose_name="学员",
    )
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress", verbose_name="课件")
    # The furthest point reached by watching in real time from the start, with no skipping.
    furthest_second = models.FloatField("已学到（秒）", default=0)
    # Every second watched in real time, re-watching included.
    watched_seconds = models.FloatField("累计观看（秒）", default=0)
    last_position = models.FloatField("上次位置（秒）", default=0)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    class Meta:
        verbose_name = "课件进度"
        verbose_name_plural = "课件进度"
        constraints = [
            models.UniqueConstraint(fields=["person", "lesson"], name="learning_one_progress_per_lesson"),
            models.CheckConstraint(
                condition=models.Q(furthest_second__gte=0), name="learning_furthest_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.lesson} · {self.furthest_second:.0f}s"


class CourseCompletion(models.Model):
    """Set once, when the person has completed every lesson of the course."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="course_completions"
    )
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="completions")
    completed_at = models.DateTimeField("完成时间")

    class Meta:
        verbose_name = "课程完成记录"
        verbose_name_plural = "课程完成记录"
        constraints = [
            models.UniqueConstraint(fields=["person", "course"], name="learning_one_completion_per_course")
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.course} · {self.completed_at:%Y-%m-%d}"


class WatchSession(models.Model):
    """One playback of a lesson: issued when playback starts, identified by an unguessable token.

    A person has at most one open session (starting another closes the rest), so two tabs cannot
    advance the same frontier twice as fast as real time.
    """

    token = models.CharField(max_length=64, unique=True)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="watch_sessions")
    started_at = models.DateTimeField()
    # Server time and position of the last accepted heartbeat (the start, before any).
    last_heartbeat_at = models.DateTimeField()
    last_position = models.FloatField(default=0)
    # The last "still here" click (the start, before any): idle pauses are counted from it.
    confirmed_at = models.DateTimeField()
    heartbeats_accepted = models.PositiveIntegerField(default=0)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "观看记录"
        verbose_name_plural = "观看记录"
        indexes = [models.Index(fields=["person", "ended_at"], name="learning_session_open")]

    def __str__(self) -> str:
        return f"{self.person} · {self.lesson} · {self.started_at:%Y-%m-%d %H:%M}"

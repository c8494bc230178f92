"""sichuan (DESIGN §4): after payment the person studies the video course in a real browser — the player
streams the private video by Range, a seek past the furthest point is snapped back (and a heartbeat
claiming it is refused by the server), real heartbeats from the page complete the lesson, and the
progress shows on /learning/.

The video is tests/browser/data/lesson-8s.webm: 8 s of VP8 test pattern, 160×120, made once with
`ffmpeg -f lavfi -i testsrc=size=160x120:rate=10:duration=8 -c:v libvpx -b:v 50k -g 10 -an`.
"""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.browser.registration_helpers import cleanup, logged_in, make_person, make_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "sichuan.localhost"
VIDEO = Path(__file__).parent / "data" / "lesson-8s.webm"


def _course_with_lesson(program):
    from learning import services
    from shared.accounts.models import User
    from tenant_configs.selectors import rules_current

    with schema_context("sichuan"):
        rules = rules_current()
        admin = User.objects.get(username="admin")
        course = services.course_create(
            rules=rules, actor=admin, data=services.CourseInput(title="浏览器视频课程", program=program)
        )
        lesson = services.lesson_create(
            rules=rules,
            actor=admin,
            course=course,
            data=services.LessonInput(title="第一讲 监理概论", order=1, duration_seconds=8),
            video=SimpleUploadedFile("lesson.webm", VIDEO.read_bytes(), content_type="video/webm"),
        )
        return course, lesson


def _remove_course(course) -> None:
    from learning.models import CourseCompletion, Lesson, LessonProgress, WatchSession
    from shared.models import AuditEntry

    connection.set_schema_to_public()
    with schema_context("sichuan"):
        lessons = list(Lesson.objects.filter(course=course))
        progress_ids = list(LessonProgress.objects.filter(lesson__in=lessons).values_list("pk", flat=True))
        AuditEntry.objects.filter(
            object_type__in=["learning.course", "learning.lesson", "learning.lessonprogress"],
            object_id__in=[str(course.pk)]
            + [str(lesson.pk) for lesson in lessons]
            + [str(pk) for pk in progress_ids],
        ).delete()
        WatchSession.objects.filter(lesson__in=lessons).delete()
        LessonProgress.objects.filter(lesson__in=lessons).delete()
        CourseCompletion.objects.filter(course=course).delete()
        for lesson in lessons:
            lesson.video.delete(save=False)
            lesson.delete()
        course.delete()


def test_sichuan_student_watches_without_skipping_and_sees_the_progress(
    browser, browser_context_args, live_url, settings, tmp_path
):
    from learning.models import LessonProgress
    from registration.models import Application, ApplicationStatus

    settings.MEDIA_ROOT = str(tmp_path)
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    connection.set_schema_to_public()
    person = make_person("sichuan", name="钱学习")
    session = make_session("sichuan", "jianli_2022", unit_code="jianli", name="浏览器学习期")
    with schema_context("sichuan"):
        Application.objects.create(
            session=session,
            program=session.program,
            enrolment_key=session.program.code,
            person=person,
            channel="self",
            status=ApplicationStatus.PAID,
            rules_version=1,
        )
    course, lesson = _course_with_lesson(session.program)
    try:
        page = logged_in(browser, browser_context_args, live_url, HOST, person)
        page.goto(live_url(HOST, "/learning/"))
        expect(page.locator(f"#lesson-{lesson.pk} .lesson-percent")).to_have_text("0%")
        page.locator(f"#lesson-{lesson.pk} a").click()
        expect(page.locator("h1")).to_contain_text("第一讲 监理概论")
        page.wait_for_function("document.getElementById('lesson-video').readyState >= 1")
        assert page.evaluate("document.getElementById('lesson-video').duration") == pytest.approx(8, abs=0.1)

        page.evaluate("const v = document.getElementById('lesson-video'); v.muted = true; v.play()")
        page.wait_for_function("window.learningPlayer.state.token !== null")
        page.wait_for_function("document.getElementById('lesson-video').currentTime >= 1")
        # Dragging the bar to 7 s after 1 s of watching: the player snaps back.
        page.evaluate("document.getElementById('lesson-video').currentTime = 7")
        page.wait_for_function("!document.getElementById('lesson-video').seeking")
        assert page.evaluate("document.getElementById('lesson-video').currentTime") < 4
        expect(page.locator("#status")).to_contain_text("不能快进")
        # A page that claimed it anyway: the server refuses the heartbeat and nothing is recorded.
        refused = page.evaluate("window.learningPlayer.sendHeartbeat(7.5)")
        assert (refused["accepted"], refused["code"]) == (False, "ahead_of_real_time")
        with schema_context("sichuan"):
            assert LessonProgress.objects.get(person=person, lesson=lesson).furthest_second == 0

        # Watching to the end in real time: the page's heartbeat on `ended` completes the lesson.
        page.wait_for_function("document.getElementById('lesson-video').ended", timeout=30_000)
        expect(page.locator("#status")).to_have_text("本课件已学完", timeout=10_000)
        with schema_context("sichuan"):
            progress = LessonProgress.objects.get(person=person, lesson=lesson)
            assert progress.furthest_second == pytest.approx(8, abs=0.01)
            assert progress.completed_at is not None

        page.goto(live_url(HOST, "/learning/"))
        expect(page.locator(f"#lesson-{lesson.pk} .lesson-percent")).to_have_text("已学完")
        expect(page.locator(f"#course-{course.pk} .course-percent")).to_have_text("100%")
        expect(page.locator(f"#course-{course.pk} .completed")).to_be_visible()
    finally:
        _remove_course(course)
        cleanup("sichuan", users=[person], sessions=[session])

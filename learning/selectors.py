"""Reading learning data across a boundary: what a person may watch, progress, completion and records.

`course_completed` and `completion_deadline` are what other apps (test card printing) call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q, QuerySet

from learning.models import Course, CourseCompletion, Lesson, LessonProgress
from registration.models import Application, ApplicationStatus, Program
from shared.accounts.models import Company, User, UserKind
from tenant_configs.schema import Payer, Rules
from tenant_configs.selectors import rules_current

# An application that entitles its person to the program's courses: paid (or completed after paying); where
# the association takes no payment through the platform (henan: billing.payer = none), approved is final.
ENTITLED_STATUSES = frozenset({ApplicationStatus.PAID, ApplicationStatus.COMPLETED})


def _entitled_program_ids(person: User) -> QuerySet:
    statuses = set(ENTITLED_STATUSES)
    if rules_current().billing.payer == Payer.NONE:
        statuses.add(ApplicationStatus.APPROVED)
    return Application.objects.filter(person=person, status__in=statuses).values("program_id")


def courses_for_person(*, person: User) -> QuerySet[Course]:
    """Published courses the person may watch: those of programs they paid for, and courses open to all
    persons of the association (no program)."""
    if person.kind != UserKind.PERSON or not person.is_active:
        return Course.objects.none()
    return Course.objects.filter(
        Q(program__isnull=True) | Q(program_id__in=_entitled_program_ids(person)), is_published=True
    ).select_related("program")


def person_enrolled_in_course(*, person: User, course: Course) -> bool:
    return courses_for_person(person=person).filter(pk=course.pk).exists()


def lesson_get_for_person(*, lesson_id: int, person: User) -> Lesson:
    """A lesson of a course the person may watch; Lesson.DoesNotExist otherwise (as for a missing id)."""
    return Lesson.objects.select_related("course").get(
        pk=lesson_id, course__in=courses_for_person(person=person)
    )


@dataclass(frozen=True)
class LessonRow:
    lesson: Lesson
    progress: LessonProgress | None

    @property
    def percent(self) -> int:
        if self.progress is None:
            return 0
        if self.progress.completed_at is not None:
            return 100
        return min(99, int(self.progress.furthest_second * 100 // self.lesson.duration_seconds))


@dataclass(frozen=True)
class CourseRow:
    course: Course
    lessons: list[LessonRow]
    completed_at: object
    deadline: date | None

    @property
    def percent(self) -> int:
        total = sum(row.lesson.duration_seconds for row in self.lessons)
        if not total:
            return 0
        done = sum(row.lesson.duration_seconds * row.percent for row in self.lessons)
        return int(done // total)


def course_rows_for_person(*, person: User, rules: Rules) -> list[CourseRow]:
    courses = list(courses_for_person(person=person).prefetch_related("lessons").order_by("created_at", "id"))
    progress = {
        row.lesson_id: row
        for row in LessonProgress.objects.filter(person=person, lesson__course__in=[c.pk for c in courses])
    }
    completions = dict(
        CourseCompletion.objects.filter(person=person, course__in=courses).values_list(
            "course_id", "completed_at"
        )
    )
    return [
        CourseRow(
            course=course,
            lessons=[
                LessonRow(lesson=lesson, progress=progress.get(lesson.pk)) for lesson in course.lessons.all()
            ],
            completed_at=completions.get(course.pk),
            deadline=course_deadline(course=course, rules=rules),
        )
        for course in courses
    ]


def progress_for(*, person: User, lesson: Lesson) -> LessonProgress | None:
    return LessonProgress.objects.filter(person=person, lesson=lesson).first()


def course_deadline(*, course: Course, rules: Rules) -> date | None:
    days = rules.learning.completion_deadline_days_before_test
    if course.test_on is None or not days:
        return None
    return course.test_on - timedelta(days=days)


def completion_deadline(*, program: Program, rules: Rules) -> date | None:
    """The last day to finish the program's courses (the earliest over its courses), or None if unlimited:
    the course's test date minus `learning.completion_deadline_days_before_test`."""
    deadlines = [
        deadline
        for course in Course.objects.filter(program=program, is_published=True)
        if (deadline := course_deadline(course=course, rules=rules)) is not None
    ]
    return min(deadlines, default=None)


def course_completed(*, person: User, program: Program, by: date | None = None) -> bool:
    """Whether the person completed every published course of the program (on or before `by`, if given).

    A program without published courses counts as not completed: the test card must not be printed on the
    strength of courses nobody set up.
    """
    courses = Course.objects.filter(program=program, is_published=True, lessons__isnull=False).distinct()
    course_ids = set(courses.values_list("pk", flat=True))
    if not course_ids:
        return False
    completions = CourseCompletion.objects.filter(person=person, course_id__in=course_ids)
    if by is not None:
        completions = completions.filter(completed_at__date__lte=by)
    return set(completions.values_list("course_id", flat=True)) == course_ids


# --- records for staff and companies --------------------------------------------------------------------


def learning_records(*, company: Company | None = None) -> QuerySet[LessonProgress]:
    """Progress rows, newest first; for a company only its own people (by their profile's company)."""
    records = LessonProgress.objects.select_related("person", "lesson", "lesson__course").order_by(
        "-updated_at", "-id"
    )
    if company is not None:
        records = records.filter(person__profile__company=company)
    return records


def course_get(*, course_id: int) -> Course:
    return Course.objects.select_related("program").get(pk=course_id)

"""Learning over the API (the player page uses it too, with the site session and its CSRF header).

GET courses/ lists what the person may watch with progress; POST lessons/<id>/start/ opens a watch
session and returns its token; POST heartbeats/ reports the player's position; POST idle-confirmations/
is the "still here" click. A refused heartbeat is answered 200 with `accepted: false` and the refusal's
code, since the player must react to it (snap back, ask for the click); errors about the session itself
are `{"code", "message"}` with 403/404/409.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from learning import selectors, services
from learning.models import Lesson
from registration.api import IsPerson
from shared.accounts.api import API_AUTHENTICATION
from shared.api import ErrorSerializer
from tenant_configs.selectors import rules_current

STATUS_BY_CODE = {
    "learning_disabled": status.HTTP_404_NOT_FOUND,
    "not_enrolled": status.HTTP_403_FORBIDDEN,
    "session_not_found": status.HTTP_404_NOT_FOUND,
    "session_ended": status.HTTP_409_CONFLICT,
}


def _error(error: services.LearningError) -> Response:
    return Response(
        {"code": error.code, "message": error.message},
        status=STATUS_BY_CODE.get(error.code, status.HTTP_400_BAD_REQUEST),
    )


class LessonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    order = serializers.IntegerField()
    duration_seconds = serializers.IntegerField()
    furthest_second = serializers.FloatField()
    last_position = serializers.FloatField()
    percent = serializers.IntegerField()
    completed_at = serializers.DateTimeField(allow_null=True)


class CourseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    program = serializers.CharField(allow_null=True, help_text="培训项目编码；null 表示所有学员可学")
    percent = serializers.IntegerField()
    completed_at = serializers.DateTimeField(allow_null=True)
    deadline = serializers.DateField(allow_null=True, help_text="须在此日期前学完")
    lessons = LessonOutput(many=True)


class CourseListApi(APIView):
    """The person's courses (paid programs' courses and open courses) with progress."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="learning_courses_list",
        summary="My courses with progress",
        responses={200: CourseOutput(many=True), 404: ErrorSerializer},
    )
    def get(self, request):
        rules = rules_current()
        if not rules.learning.enabled:
            return _error(services.LearningError("learning_disabled", "本协会未开通在线学习"))
        rows = selectors.course_rows_for_person(person=request.user, rules=rules)
        data = [
            {
                "id": row.course.pk,
                "title": row.course.title,
                "program": row.course.program.code if row.course.program else None,
                "percent": row.percent,
                "completed_at": row.completed_at,
                "deadline": row.deadline,
                "lessons": [
                    {
                        "id": lesson_row.lesson.pk,
                        "title": lesson_row.lesson.title,
                        "order": lesson_row.lesson.order,
                        "duration_seconds": lesson_row.lesson.duration_seconds,
                        "furthest_second": lesson_row.progress.furthest_second
                        if lesson_row.progress
                        else 0.0,
                        "last_position": lesson_row.progress.last_position if lesson_row.progress else 0.0,
                        "percent": lesson_row.percent,
                        "completed_at": lesson_row.progress.completed_at if lesson_row.progress else None,
                    }
                    for lesson_row in row.lessons
                ],
            }
            for row in rows
        ]
        return Response(CourseOutput(data, many=True).data)


class PolicyOutput(serializers.Serializer):
    forbid_seek_ahead = serializers.BooleanField()
    resume = serializers.BooleanField()
    idle_pause_minutes = serializers.IntegerField()
    heartbeat_seconds = serializers.IntegerField()
    max_playback_rate = serializers.FloatField()


class WatchStartOutput(serializers.Serializer):
    token = serializers.CharField(help_text="本次观看的凭证，随每次进度上报提交")
    start_position = serializers.FloatField(help_text="从此处开始播放（断点续看）")
    furthest_second = serializers.FloatField(help_text="已学到的位置；不能拖动到此之后")
    policy = PolicyOutput()


class LessonStartApi(APIView):
    """Open a watch session for a lesson of a course the person may watch; closes their other sessions."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="learning_lesson_start",
        summary="Start watching a lesson",
        request=None,
        responses={
            201: WatchStartOutput,
            403: OpenApiResponse(ErrorSerializer, description="not_enrolled"),
            404: OpenApiResponse(ErrorSerializer, description="lesson not found / learning_disabled"),
        },
    )
    def post(self, request, lesson_id: int):
        rules = rules_current()
        try:
            lesson = selectors.lesson_get_for_person(lesson_id=lesson_id, person=request.user)
        except Lesson.DoesNotExist:
            return Response({"code": "not_found", "message": "课件不存在"}, status=status.HTTP_404_NOT_FOUND)
        try:
            session = services.watch_start(
                rules=rules,
                person=request.user,
                lesson=lesson,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except services.LearningError as error:
            return _error(error)
        progress = selectors.progress_for(person=request.user, lesson=lesson)
        policy = rules.learning.video
        return Response(
            WatchStartOutput(
                {
                    "token": session.token,
                    "start_position": session.last_position,
                    "furthest_second": progress.furthest_second if progress else 0.0,
                    "policy": policy.model_dump(),
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )


class HeartbeatInput(serializers.Serializer):
    token = serializers.CharField(max_length=64)
    position = serializers.FloatField(min_value=0, help_text="播放器当前位置（秒）")
    playing = serializers.BooleanField(required=False, default=True)
    playback_rate = serializers.FloatField(
        required=False, default=1.0, help_text="仅作记录；进度只按服务器时间计"
    )


class HeartbeatOutput(serializers.Serializer):
    accepted = serializers.BooleanField()
    code = serializers.CharField(help_text="advanced / seeked / ahead_of_real_time / too_frequent / …")
    message = serializers.CharField(allow_blank=True)
    position = serializers.FloatField(help_text="服务器认可的位置；被拒绝时播放器应回到此处")
    furthest_second = serializers.FloatField()
    watched_seconds = serializers.FloatField()
    lesson_completed = serializers.BooleanField()
    course_completed = serializers.BooleanField()
    confirmation_required = serializers.BooleanField()


class HeartbeatApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="learning_heartbeat",
        summary="Report the player's position",
        request=HeartbeatInput,
        responses={
            200: HeartbeatOutput,
            400: ErrorSerializer,
            404: OpenApiResponse(ErrorSerializer, description="session_not_found"),
            409: OpenApiResponse(ErrorSerializer, description="session_ended"),
        },
    )
    def post(self, request):
        payload = HeartbeatInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = services.heartbeat_record(
                rules=rules_current(),
                person=request.user,
                token=payload.validated_data["token"],
                position=payload.validated_data["position"],
            )
        except services.LearningError as error:
            return _error(error)
        decision = result.decision
        return Response(
            HeartbeatOutput(
                {
                    "accepted": decision.accepted,
                    "code": decision.outcome.value,
                    "message": decision.message,
                    "position": decision.position,
                    "furthest_second": result.progress.furthest_second,
                    "watched_seconds": result.progress.watched_seconds,
                    "lesson_completed": result.progress.completed_at is not None,
                    "course_completed": result.course_completed,
                    "confirmation_required": decision.outcome == "confirmation_required",
                }
            ).data
        )


class IdleConfirmInput(serializers.Serializer):
    token = serializers.CharField(max_length=64)


class IdleConfirmApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="learning_idle_confirm",
        summary="The 'still here' click after an idle pause",
        request=IdleConfirmInput,
        responses={204: None, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request):
        payload = IdleConfirmInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.idle_confirm(
                rules=rules_current(), person=request.user, token=payload.validated_data["token"]
            )
        except services.LearningError as error:
            return _error(error)
        return Response(status=status.HTTP_204_NO_CONTENT)

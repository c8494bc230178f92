"""Learning routes, included once at the site root: the pages under /learning/ and the API under
/api/v1/learning/."""

from django.urls import include, path

from learning import api, views

app_name = "learning"

api_patterns = [
    path("courses/", api.CourseListApi.as_view(), name="api-courses"),
    path("lessons/<int:lesson_id>/start/", api.LessonStartApi.as_view(), name="api-lesson-start"),
    path("heartbeats/", api.HeartbeatApi.as_view(), name="api-heartbeats"),
    path("idle-confirmations/", api.IdleConfirmApi.as_view(), name="api-idle-confirm"),
]

urlpatterns = [
    path("learning/", views.my_courses, name="my-courses"),
    path("learning/lessons/<int:lesson_id>/", views.lesson_player, name="player"),
    path("learning/lessons/<int:lesson_id>/video", views.lesson_video, name="video"),
    path("learning/console/", views.console_courses, name="console-courses"),
    path("learning/console/courses/<int:course_id>/", views.console_course, name="console-course"),
    path("learning/console/records/", views.console_records, name="console-records"),
    path("learning/company/records/", views.company_records, name="company-records"),
    path("api/v1/learning/", include(api_patterns)),
]

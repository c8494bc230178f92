"""Exams over the API: the caller's exam seats with tickets and scores (a person's own, a company
operator's people's), and the admission ticket PDF. Refusals are `{"code", "message"}`; another person's
or another tenant's entry is 404 `not_found`, a ticket outside its window 409 with the rule's code."""

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from certificates import exams, selectors_exams
from certificates.models import ExamEntry, ExamEntryStatus, ExamSessionKind
from shared.accounts.api import API_AUTHENTICATION
from shared.api import ErrorSerializer
from tenant_configs.selectors import rules_current

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`：准考证不存在或无权查看")


class ExamEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    holder_name = serializers.CharField()
    program_name = serializers.CharField()
    exam_name = serializers.CharField()
    exam_kind = serializers.ChoiceField(choices=ExamSessionKind.choices, help_text="normal / retake（补考）")
    starts_at = serializers.DateTimeField()
    location = serializers.CharField()
    seat_number = serializers.IntegerField()
    ticket_number = serializers.CharField(help_text="准考证号")
    status = serializers.ChoiceField(choices=ExamEntryStatus.choices)
    print_opens_at = serializers.DateTimeField()
    print_closes_at = serializers.DateTimeField()
    ticket_printable = serializers.BooleanField()
    ticket_refusal = serializers.CharField(help_text="不能打印的原因（可打印时为空）")
    ticket_url = serializers.CharField()
    score = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    passed = serializers.BooleanField(allow_null=True)
    pass_reviewed = serializers.BooleanField(help_text="协会已确认成绩")


def _entry_data(request, entry: ExamEntry, *, rules, now) -> dict:
    refusal = exams.exam_ticket_refusal(rules=rules, entry=entry, now=now)
    opens_at, closes_at = exams.exam_ticket_window(rules=rules, entry=entry)
    score = getattr(entry, "score", None)
    return {
        "id": entry.pk,
        "holder_name": entry.application.person.name,
        "program_name": entry.session.program.name,
        "exam_name": entry.session.name,
        "exam_kind": entry.session.kind,
        "starts_at": entry.session.starts_at,
        "location": entry.session.location,
        "seat_number": entry.seat_number,
        "ticket_number": entry.ticket_number,
        "status": entry.status,
        "print_opens_at": opens_at,
        "print_closes_at": closes_at,
        "ticket_printable": refusal is None,
        "ticket_refusal": refusal.message if refusal else "",
        "ticket_url": request.build_absolute_uri(f"/api/v1/exams/{entry.pk}/ticket/"),
        "score": score.score if score else None,
        "passed": score.passed if score else None,
        "pass_reviewed": bool(score and score.pass_reviewed_at),
    }


class ExamListApi(APIView):
    """我的考试: the caller's exam seats, newest first, with ticket printability and scores."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="exam_list", responses={200: ExamEntryOutput(many=True)})
    def get(self, request):
        rules, now = rules_current(), timezone.now()
        entries = selectors_exams.exam_entries_visible_to(viewer=request.user)[:500]
        return Response(
            ExamEntryOutput(
                [_entry_data(request, entry, rules=rules, now=now) for entry in entries], many=True
            ).data
        )


class ExamTicketPdfApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="exam_ticket_pdf",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer, description="`print_not_open` / `print_closed` / `not_eligible`"
            ),
        },
    )
    def get(self, request, entry_id: int):
        try:
            entry = selectors_exams.exam_entry_get_for_viewer(entry_id=entry_id, viewer=request.user)
        except ExamEntry.DoesNotExist:
            raise NotFound("未找到该准考证", code="not_found") from None
        try:
            data = exams.exam_ticket_pdf(rules=rules_current(), entry=entry, viewer=request.user)
        except exams.ExamError as error:
            return Response({"code": error.code, "message": error.message}, status=status.HTTP_409_CONFLICT)
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="ticket-{entry.ticket_number}.pdf"'
        return response


urlpatterns = [
    path("exams/", ExamListApi.as_view(), name="api-exams"),
    path("exams/<int:entry_id>/ticket/", ExamTicketPdfApi.as_view(), name="api-exam-ticket"),
]

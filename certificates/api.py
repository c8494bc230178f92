"""Certificates over the API (mini-program, integrators): the caller's own certificates and their PDFs,
and the public verification lookup that the QR code's page also answers (holder masked).

Every refusal is `{"code", "message"}`. An unknown, malformed or other tenant's verification code is
answered exactly like any other: 404 `not_found`.
"""

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from certificates import selectors, services
from certificates.models import Certificate, CertificateState
from certificates.numbering import mask_name
from shared.accounts.api import API_AUTHENTICATION
from shared.api import ErrorSerializer
from tenant_configs.selectors import rules_current

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`：证书不存在或无权查看")


class CertificateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind_code = serializers.CharField(help_text="证书种类（规则中的 code）")
    title = serializers.CharField()
    number = serializers.CharField(help_text="证书编号")
    holder_name = serializers.CharField()
    program_name = serializers.CharField()
    issued_at = serializers.DateTimeField()
    valid_until = serializers.DateField(allow_null=True, help_text="null 为长期有效")
    state = serializers.ChoiceField(choices=CertificateState.choices, help_text="valid / expired / revoked")
    state_label = serializers.CharField(help_text="有效 / 已过期 / 已撤销")
    verification_code = serializers.CharField(help_text="验证码（二维码中的令牌）")
    pdf_url = serializers.CharField()


class VerificationOutput(serializers.Serializer):
    title = serializers.CharField()
    number = serializers.CharField()
    holder_name = serializers.CharField(help_text="遮蔽的姓名，如 张*丰")
    id_number = serializers.CharField(help_text="遮蔽的身份证号")
    program_name = serializers.CharField()
    issuer = serializers.CharField()
    issued_on = serializers.DateField()
    valid_until = serializers.DateField(allow_null=True, help_text="null 为长期有效")
    state = serializers.ChoiceField(choices=CertificateState.choices)
    state_label = serializers.CharField()


def _certificate_data(request, certificate: Certificate) -> dict:
    return {
        "id": certificate.pk,
        "kind_code": certificate.kind_code,
        "title": certificate.title,
        "number": certificate.number,
        "holder_name": certificate.holder_snapshot.get("name", ""),
        "program_name": certificate.program_name,
        "issued_at": certificate.issued_at,
        "valid_until": certificate.valid_until,
        "state": certificate.state(),
        "state_label": certificate.state_label(),
        "verification_code": certificate.verification_code,
        "pdf_url": request.build_absolute_uri(f"/api/v1/certificates/{certificate.pk}/pdf/"),
    }


class CertificateListApi(APIView):
    """The caller's certificates: a person's own, a company operator's people's; newest first."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="certificate_list", responses={200: CertificateOutput(many=True)})
    def get(self, request):
        certificates = selectors.certificates_visible_to(viewer=request.user)[:500]
        return Response(
            CertificateOutput([_certificate_data(request, item) for item in certificates], many=True).data
        )


class CertificatePdfApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="certificate_pdf",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    def get(self, request, certificate_id: int):
        try:
            certificate = selectors.certificate_get_for_viewer(
                certificate_id=certificate_id, viewer=request.user
            )
        except Certificate.DoesNotExist:
            raise NotFound("未找到该证书", code="not_found") from None
        response = HttpResponse(
            services.certificate_download(certificate=certificate, viewer=request.user),
            content_type="application/pdf",
        )
        response["Content-Disposition"] = f'attachment; filename="certificate-{certificate.number}.pdf"'
        return response


class CertificateVerifyApi(APIView):
    """Public lookup by verification code (no login), holder masked: what the QR code's page shows."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="certificate_verify",
        responses={200: VerificationOutput, 404: NOT_FOUND},
    )
    def get(self, request, code: str):
        rules = rules_current()
        try:
            if not rules.certificates.registry_enabled:
                raise Certificate.DoesNotExist
            certificate = selectors.certificate_get_by_code(code=code)
        except Certificate.DoesNotExist:
            raise NotFound("未找到该证书", code="not_found") from None
        snapshot = certificate.holder_snapshot
        data = {
            "title": certificate.title,
            "number": certificate.number,
            "holder_name": mask_name(snapshot.get("name", "")),
            "id_number": snapshot.get("id_number_masked", ""),
            "program_name": certificate.program_name,
            "issuer": rules.association.name,
            "issued_on": timezone.localdate(certificate.issued_at),
            "valid_until": certificate.valid_until,
            "state": certificate.state(),
            "state_label": certificate.state_label(),
        }
        response = Response(VerificationOutput(data).data)
        response["X-Robots-Tag"] = "noindex"
        return response

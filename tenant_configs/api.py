"""Rules over the API: the public part (association and branding) and, for admins, the full rules."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from shared.api import ErrorSerializer, IsAssociationAdmin
from tenant_configs.loader import rules_to_data
from tenant_configs.selectors import rules_current, rules_current_version, rules_version_list


class AssociationOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    short_name = serializers.CharField()
    province = serializers.CharField()
    site_title = serializers.CharField()
    primary_color = serializers.CharField()
    rules_version = serializers.IntegerField()


class AssociationInfoApi(APIView):
    """Who this host is: the mini-program calls it first to brand itself."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: AssociationOutput}, operation_id="association_info")
    def get(self, request):
        rules = rules_current()
        version = rules_current_version()
        tenant = request.tenant
        return Response(
            AssociationOutput(
                {
                    "slug": tenant.slug,
                    "name": tenant.name,
                    "short_name": tenant.short_name,
                    "province": tenant.province,
                    "site_title": rules.branding.site_title or tenant.name,
                    "primary_color": rules.branding.primary_color,
                    "rules_version": version.number,
                }
            ).data
        )


class RulesVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    sha256 = serializers.CharField()
    published_at = serializers.DateTimeField()
    published_by_label = serializers.CharField()
    comment = serializers.CharField()


class RulesCurrentOutput(RulesVersionOutput):
    rules = serializers.JSONField()


class RulesCurrentApi(APIView):
    permission_classes = [IsAssociationAdmin]

    @extend_schema(responses={200: RulesCurrentOutput, 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request):
        version = rules_current_version()
        data = RulesVersionOutput(version).data
        data["rules"] = rules_to_data(rules_current())
        return Response(data)


class RulesVersionListApi(APIView):
    permission_classes = [IsAssociationAdmin]

    @extend_schema(responses={200: RulesVersionOutput(many=True), 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request):
        return Response(RulesVersionOutput(rules_version_list(), many=True).data)

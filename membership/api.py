"""Association membership over the API (mini-program, integrators): the person's membership and
application, the company's list, recommendation, roll back and electronic confirmation, and staff
decisions. The fee is paid through `/api/v1/orders/` with `membership_fee_ids`.

Every refusal is `{"code", "message"}` (plus `fields` for input problems); another company's or person's
id is answered exactly like an id that does not exist.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from membership import selectors, services
from membership.models import Membership
from shared.accounts.api import API_AUTHENTICATION
from shared.accounts.models import UserKind
from shared.api import ErrorSerializer
from tenant_configs.schema import Rules
from tenant_configs.selectors import rules_current

CONFLICT_CODES = frozenset(
    {"already_applied", "already_recommended", "already_decided", "invalid_transition", "not_recommended"}
    | {"not_confirmed", "nothing_to_confirm", "roll_back_not_allowed", "not_electronic"}
)


class _Kind(permissions.BasePermission):
    kinds: frozenset[str] = frozenset()
    message = "该账户不能使用此接口"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.kind in self.kinds)


class IsPerson(_Kind):
    kinds = frozenset({UserKind.PERSON})


class IsCompanyOperator(_Kind):
    kinds = frozenset({UserKind.COMPANY})

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.company_id is not None


class IsMembershipReviewer(permissions.BasePermission):
    message = "只有协会审核人员可以审批会员"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_association_staff
            and (user.has_staff_role("reviewer") or user.has_staff_role("admin"))
        )


def _rules() -> Rules:
    rules = rules_current()
    if not rules.membership.enabled:
        raise Http404
    return rules


def _refusal(error: services.MembershipError) -> Response:
    if error.code == "not_found":
        http_status = status.HTTP_404_NOT_FOUND
    elif error.code in CONFLICT_CODES:
        http_status = status.HTTP_409_CONFLICT
    else:
        http_status = status.HTTP_422_UNPROCESSABLE_ENTITY
    body = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    return Response(body, status=http_status)


REFUSED = OpenApiResponse(ErrorSerializer, description="拒绝（不作任何改动）：`code` 见各接口说明")
CONFLICT = OpenApiResponse(ErrorSerializer, description="状态不允许：已申请、已推荐、协会已处理等")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`（含非本单位人员）")


class FeeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    years = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    status = serializers.CharField(help_text="due 待缴费 / paid 已缴费 / cancelled")
    renewal = serializers.BooleanField()
    paid_at = serializers.DateTimeField(allow_null=True)
    period_starts_on = serializers.DateField(allow_null=True)
    period_ends_on = serializers.DateField(allow_null=True)


class MembershipOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(
        help_text="applied、recommended_new、recommended_renewal、approved（待缴费）、active、expired、rolled_back、rejected"
    )
    status_label = serializers.CharField()
    name = serializers.CharField()
    id_number = serializers.CharField()
    company = serializers.CharField(allow_null=True)
    answers = serializers.DictField(child=serializers.CharField(allow_blank=True))
    renewal = serializers.BooleanField()
    reason = serializers.CharField(help_text="未通过原因")
    confirmed_batch = serializers.CharField(allow_null=True, help_text="电子推荐批号；未确认为 null")
    starts_on = serializers.DateField(allow_null=True)
    ends_on = serializers.DateField(allow_null=True)


def _membership_data(rules: Rules, membership: Membership) -> dict:
    return {
        "id": membership.pk,
        "status": membership.status,
        "status_label": selectors.status_label(rules=rules, status=membership.status),
        "name": membership.answers.get("name", ""),
        "id_number": membership.answers.get("id_number", ""),
        "company": membership.company.name if membership.company_id else None,
        "answers": {key: str(value) for key, value in membership.answers.items()},
        "renewal": membership.renewal,
        "reason": membership.reason,
        "confirmed_batch": membership.batch.number if membership.batch_id else None,
        "starts_on": membership.starts_on,
        "ends_on": membership.ends_on,
    }


class MyMembershipOutput(serializers.Serializer):
    membership = MembershipOutput(allow_null=True)
    fees = FeeOutput(many=True)
    fee_per_year_fen = serializers.IntegerField()
    period_years = serializers.IntegerField()
    eligibility_note = serializers.CharField()


class MembershipApplyInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    education = serializers.CharField(max_length=200)
    professional_title = serializers.CharField(max_length=200)
    phone = serializers.CharField(max_length=20)
    address = serializers.CharField(max_length=200)
    specialty = serializers.CharField(max_length=200, required=False, allow_blank=True)
    position = serializers.CharField(max_length=200, required=False, allow_blank=True)
    work_start_date = serializers.CharField(max_length=10, required=False, allow_blank=True)
    qq = serializers.CharField(max_length=15, required=False, allow_blank=True)
    photo = serializers.FileField(required=False, help_text="证件照（按协会要求）；不传则用已上传的证件照")


def _my_data(rules: Rules, person) -> dict:
    membership = selectors.membership_for_person(person=person)
    return {
        "membership": _membership_data(rules, membership) if membership else None,
        "fees": list(selectors.fees_for_person(person=person).values(*FeeOutput().fields.keys())),
        "fee_per_year_fen": rules.membership.fee_per_year_fen,
        "period_years": rules.membership.period_years,
        "eligibility_note": rules.membership.eligibility_note,
    }


class MyMembershipApi(APIView):
    """The person's membership (个人会员首页), and the application (入会申请)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(operation_id="membership_mine", responses={200: MyMembershipOutput, 404: NOT_FOUND})
    def get(self, request):
        return Response(MyMembershipOutput(_my_data(_rules(), request.user)).data)

    @extend_schema(
        operation_id="membership_apply",
        request={"multipart/form-data": MembershipApplyInput, "application/json": MembershipApplyInput},
        responses={201: MyMembershipOutput, 409: CONFLICT, 422: REFUSED},
    )
    def post(self, request):
        rules = _rules()
        values = MembershipApplyInput(data=request.data)
        values.is_valid(raise_exception=True)
        upload = values.validated_data.pop("photo", None)
        photo = services.PhotoUpload(data=upload.read(), filename=upload.name) if upload else None
        try:
            services.membership_apply(
                rules=rules, person=request.user, answers=values.validated_data, photo=photo
            )
        except services.MembershipError as error:
            return _refusal(error)
        return Response(
            MyMembershipOutput(_my_data(rules, request.user)).data, status=status.HTTP_201_CREATED
        )


class CompanyMembershipListOutput(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="各状态人数")
    unconfirmed = serializers.IntegerField(help_text="已推荐但未电子确认的人数")
    results = MembershipOutput(many=True)


class CompanyMembershipListApi(APIView):
    """The company's people by status (个人提交, 企业推荐（新会员）, 企业推荐（续期）, 正式会员, 已过期 …)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsCompanyOperator]

    @extend_schema(
        operation_id="company_membership_list",
        parameters=[
            OpenApiParameter(
                "tab", str, description="、".join(tab for tab, _statuses in selectors.COMPANY_TABS)
            )
        ],
        responses={200: CompanyMembershipListOutput},
    )
    def get(self, request):
        rules = _rules()
        company = request.user.company
        memberships = selectors.memberships_for_company(company=company)
        tab = request.query_params.get("tab", "applied")
        rows = selectors.memberships_in_tab(memberships=memberships, tab=tab)
        data = {
            "counts": selectors.tab_counts(memberships=memberships),
            "unconfirmed": selectors.unconfirmed_count(company=company),
            "results": [_membership_data(rules, membership) for membership in rows],
        }
        return Response(CompanyMembershipListOutput(data).data)


class IdsInput(serializers.Serializer):
    membership_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=500)


class CompanyRecommendApi(APIView):
    """批量推荐 / 推荐续期: all or nothing."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsCompanyOperator]

    @extend_schema(
        operation_id="company_membership_recommend",
        request=IdsInput,
        responses={200: MembershipOutput(many=True), 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request):
        rules = _rules()
        values = IdsInput(data=request.data)
        values.is_valid(raise_exception=True)
        try:
            done = services.memberships_recommend(
                rules=rules,
                company=request.user.company,
                actor=request.user,
                membership_ids=values.validated_data["membership_ids"],
            )
        except services.MembershipError as error:
            return _refusal(error)
        return Response([_membership_data(rules, membership) for membership in done])


class CompanyRollBackApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsCompanyOperator]

    @extend_schema(
        operation_id="company_membership_roll_back",
        request=None,
        responses={200: MembershipOutput, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, membership_id: int):
        rules = _rules()
        try:
            membership = services.membership_roll_back(
                rules=rules, company=request.user.company, actor=request.user, membership_id=membership_id
            )
        except services.MembershipError as error:
            return _refusal(error)
        return Response(_membership_data(rules, membership))


class BatchOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    entries = serializers.ListField(child=serializers.DictField())
    content_sha256 = serializers.CharField()
    confirmed_by_name = serializers.CharField()
    confirmed_at = serializers.DateTimeField()


class CompanyConfirmApi(APIView):
    """电子确认推荐: one batch of every unconfirmed recommendation, with its hash and PDF."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsCompanyOperator]

    @extend_schema(
        operation_id="company_membership_confirm", request=None, responses={201: BatchOutput, 409: CONFLICT}
    )
    def post(self, request):
        try:
            batch = services.recommendation_confirm(
                rules=_rules(), company=request.user.company, actor=request.user
            )
        except services.MembershipError as error:
            return _refusal(error)
        return Response(BatchOutput(batch).data, status=status.HTTP_201_CREATED)


class DecideInput(IdsInput):
    approve = serializers.BooleanField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class StaffMembershipListApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsMembershipReviewer]

    @extend_schema(
        operation_id="staff_membership_list",
        parameters=[
            OpenApiParameter("tab", str),
            OpenApiParameter("q", str, description="姓名/身份证号/单位"),
        ],
        responses={200: MembershipOutput(many=True)},
    )
    def get(self, request):
        rules = _rules()
        memberships = selectors.memberships_for_staff(query=request.query_params.get("q", ""))
        rows = selectors.memberships_in_tab(
            memberships=memberships, tab=request.query_params.get("tab", "recommended_new")
        )[:500]
        return Response([_membership_data(rules, membership) for membership in rows])


class StaffDecideApi(APIView):
    """协会审批: approve (→ 待缴费, the fee due) or reject with a reason; all or nothing."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsMembershipReviewer]

    @extend_schema(
        operation_id="staff_membership_decide",
        request=DecideInput,
        responses={200: MembershipOutput(many=True), 404: NOT_FOUND, 409: CONFLICT, 422: REFUSED},
    )
    def post(self, request):
        rules = _rules()
        values = DecideInput(data=request.data)
        values.is_valid(raise_exception=True)
        try:
            done = services.memberships_decide(rules=rules, actor=request.user, **values.validated_data)
        except services.MembershipError as error:
            return _refusal(error)
        return Response([_membership_data(rules, membership) for membership in done])

"""Registration over the API, for the WeChat mini-program and integrators: open sessions, the form a
program asks for, applying (idempotent), the person's own applications, resubmitting and withdrawing.

Everything is on the association's own host; authentication as the identity API (token, or the site's
session). The catalogue (sessions, forms) is public like the training page; applications are a person's
own: another person's id is answered exactly like an id that does not exist.

Every refusal is `{"code", "message"}`; a refusal of the rules adds `problems: [{code, message, field}]`,
every reason the rules found, the first one's code being the answer's `code`.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from registration import rules as engine
from registration import selectors, services
from registration.models import Application, ApplicationEvent, ApplicationStatus, Program, TrainingSession
from shared.accounts.api import API_AUTHENTICATION
from shared.accounts.models import User, UserKind
from shared.api import ErrorSerializer
from shared.idempotency import HEADER, Answer, IdempotencyKeyReused, idempotent, key_is_valid, request_sha256
from tenant_configs.schema import ChoicesSource, PledgeStage, ProgramRules, Rules
from tenant_configs.selectors import _current_pointer, rules_current

# --- conventions --------------------------------------------------------------------------------


class IsPerson(permissions.BasePermission):
    """Applications are a person's own: company operators and staff use their own surfaces."""

    message = "只有个人账户可以使用报名接口"
    code = "forbidden"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.kind == UserKind.PERSON)


def _error(http_status: int, code: str, message: str) -> Response:
    return Response({"code": code, "message": message}, status=http_status)


def _rules_in_force() -> tuple[Rules, int]:
    """The rules and their version number, both from the cached (number, sha256) pointer rules_current()
    reads: no query once warm, and the number always belongs to the rules used. tenant_configs has no
    public accessor for the number yet (rules_current_version() loads the whole payload row)."""
    rules = rules_current()
    pointer = _current_pointer()
    return rules, pointer[0]


def _program_rules(rules: Rules, code: str) -> ProgramRules | None:
    return next((program for program in rules.programs if program.code == code), None)


class ProblemOutput(serializers.Serializer):
    code = serializers.CharField(help_text="稳定的英文代码，如 session_full、field_required")
    message = serializers.CharField()
    field = serializers.CharField(
        allow_null=True, help_text="出问题的字段、资料或承诺书的 key；班次或本人的问题为 null"
    )


class RefusalOutput(ErrorSerializer):
    problems = ProblemOutput(
        many=True, required=False, help_text="规则拒绝时的全部原因（code 为第一条的代码）"
    )


def _refusal(refused: services.ApplicationRefused) -> dict:
    return {
        "code": refused.code,
        "message": refused.message,
        "problems": [
            {"code": problem.code, "message": problem.message, "field": problem.field}
            for problem in refused.problems
        ],
    }


# Transitions the applicant asked for that are not possible now.
CONFLICT_CODES = ("invalid_state", "withdrawal_not_allowed", "resubmit_not_allowed")


def _transition_refusal(error: services.ApplicationError) -> Response:
    http_status = status.HTTP_403_FORBIDDEN if error.code == "forbidden" else status.HTTP_409_CONFLICT
    return _error(http_status, error.code, error.message)


NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`")
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="未登录或令牌无效（令牌只在签发它的协会有效）")
NOT_A_PERSON = OpenApiResponse(ErrorSerializer, description="`forbidden`：不是个人账户")
REFUSED = OpenApiResponse(
    RefusalOutput,
    description=(
        "规则拒绝报名（不作任何改动）：`code` 为第一条原因，`problems` 列出全部原因。代码见 "
        + "、".join(f"`{code}`" for code in engine.PROBLEM_CODES)
    ),
)


# --- sessions and forms -------------------------------------------------------------------------


class ProgramBriefOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class SessionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    program = ProgramBriefOutput()
    unit_code = serializers.CharField(help_text="分会/地区/地市代码，空为不限")
    unit_name = serializers.CharField()
    institution_code = serializers.CharField(help_text="培训机构代码，空为无")
    institution_name = serializers.CharField()
    location = serializers.CharField()
    opens_at = serializers.DateTimeField(allow_null=True, help_text="报名开始；null 为不限")
    closes_at = serializers.DateTimeField(allow_null=True, help_text="报名截止（不含）；null 为不限")
    starts_on = serializers.DateField(allow_null=True)
    ends_on = serializers.DateField(allow_null=True)
    fee_fen = serializers.IntegerField(help_text="培训费（分）")
    materials_fee_fen = serializers.IntegerField(help_text="培训资料费（分）")
    capacity = serializers.IntegerField(help_text="计划人数，0 为不限")
    seats_left = serializers.IntegerField(allow_null=True, help_text="剩余名额；null 为不限")
    waiting_list = serializers.BooleanField(help_text="名额满后可候补")


def _session_data(rules: Rules, session: TrainingSession) -> dict:
    units = {unit.code: unit.name for unit in rules.organizations.units}
    institutions = {item.code: item.name for item in rules.organizations.institutions}
    return {
        "id": session.pk,
        "code": session.code,
        "name": session.name,
        "program": {"code": session.program.code, "name": session.program.name},
        "unit_code": session.unit_code,
        "unit_name": units.get(session.unit_code, ""),
        "institution_code": session.institution_code,
        "institution_name": institutions.get(session.institution_code, ""),
        "location": session.location,
        "opens_at": session.opens_at,
        "closes_at": session.closes_at,
        "starts_on": session.starts_on,
        "ends_on": session.ends_on,
        "fee_fen": session.fee_fen,
        "materials_fee_fen": session.materials_fee_fen,
        "capacity": session.capacity,
        "seats_left": selectors.seats_left(session),
        "waiting_list": session.waiting_list,
    }


class SessionListApi(APIView):
    """Sessions (期次/班次) open for enrolment now, closing first first; public like the training page."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="training_session_list",
        parameters=[OpenApiParameter("program", str, description="只列出该培训项目（项目编码）的班次")],
        responses={200: SessionOutput(many=True)},
    )
    def get(self, request):
        rules = rules_current()
        program = request.query_params.get("program")
        sessions = selectors.sessions_open(program_codes=[program] if program else None)
        rows = [
            _session_data(rules, session)
            for session in sessions
            if _program_rules(rules, session.program.code) is not None
        ]
        return Response(SessionOutput(rows, many=True).data)


class ChoiceOutput(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    city_code = serializers.CharField(help_text="培训机构所在地市（按所选地市筛选机构），其他为空")


class ConditionOutput(serializers.Serializer):
    field = serializers.CharField()
    equals = serializers.CharField()


class FieldOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField(
        help_text="text、long_text、choice、multi_choice、date、address、file、yes_no…"
    )
    required = serializers.BooleanField()
    choices = ChoiceOutput(many=True)
    choices_source = serializers.CharField(help_text="inline / sessions / units / institutions")
    shown_if = ConditionOutput(allow_null=True, help_text="仅当前面的字段取该值时显示")
    profile_field = serializers.CharField(allow_null=True, help_text="取自个人资料（以个人资料为准）")
    document = serializers.CharField(help_text="file 类型字段上传的资料 key")
    help = serializers.CharField()


class DocumentOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    formats = serializers.ListField(child=serializers.CharField())
    max_kb = serializers.IntegerField()
    allowed_pixel_sizes = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    template_note = serializers.CharField()


class PledgeOutput(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    version = serializers.IntegerField(help_text="报名时在 pledges 中回传此版本号")
    text = serializers.CharField()


class MaterialsOutput(serializers.Serializer):
    policy = serializers.CharField(help_text="none / optional（须回传 with_materials）/ required_shipped")
    fee_fen = serializers.IntegerField()
    materials_fee_fen = serializers.IntegerField()


class ProgramFormOutput(serializers.Serializer):
    program = ProgramBriefOutput()
    description = serializers.CharField()
    channel = serializers.CharField()
    requires_real_name = serializers.BooleanField()
    requires_photo = serializers.BooleanField()
    fields = FieldOutput(many=True)
    documents = DocumentOutput(many=True, help_text="资料取本人已上传的当前文件（在个人资料中上传）")
    pledges = PledgeOutput(many=True, help_text="报名时须同意的承诺书")
    materials = MaterialsOutput()


def _choices(rules: Rules, program: ProgramRules, form_field, sessions: list[TrainingSession]) -> list[dict]:
    source = form_field.choices_source
    if source == ChoicesSource.UNITS:
        codes = set(program.unit_codes)
        return [
            {"value": unit.code, "label": unit.name, "city_code": ""}
            for unit in rules.organizations.units
            if not codes or unit.code in codes
        ]
    if source == ChoicesSource.INSTITUTIONS:
        return [
            {"value": item.code, "label": item.name, "city_code": item.city_code}
            for item in rules.organizations.institutions
        ]
    if source == ChoicesSource.SESSIONS:
        return [{"value": str(session.pk), "label": session.name, "city_code": ""} for session in sessions]
    return [{"value": choice.value, "label": choice.label, "city_code": ""} for choice in form_field.choices]


def _form_data(rules: Rules, program: ProgramRules, name: str, sessions: list[TrainingSession]) -> dict:
    return {
        "program": {"code": program.code, "name": name},
        "description": program.description,
        "channel": str(program.channel),
        "requires_real_name": engine.real_name_required(rules, program),
        "requires_photo": program.requires_photo,
        "fields": [
            {
                "key": form_field.key,
                "label": form_field.label,
                "type": str(form_field.type),
                "required": form_field.required,
                "choices": _choices(rules, program, form_field, sessions),
                "choices_source": str(form_field.choices_source),
                "shown_if": (
                    {"field": form_field.shown_if.field, "equals": form_field.shown_if.equals}
                    if form_field.shown_if
                    else None
                ),
                "profile_field": str(form_field.profile_field) if form_field.profile_field else None,
                "document": form_field.document,
                "help": form_field.help,
            }
            for form_field in program.fields
        ],
        "documents": [
            {
                "key": document.key,
                "label": document.label,
                "required": document.required,
                "formats": [str(item) for item in document.formats],
                "max_kb": document.max_kb,
                "allowed_pixel_sizes": [list(size) for size in document.allowed_pixel_sizes],
                "template_note": document.template_note,
            }
            for document in program.documents
        ],
        "pledges": [
            {"key": pledge.key, "title": pledge.title, "version": pledge.version, "text": pledge.text}
            for pledge in program.pledges
            if pledge.stage == PledgeStage.APPLICATION
        ],
        "materials": {
            "policy": str(program.price.materials_policy),
            "fee_fen": program.price.fee_fen,
            "materials_fee_fen": program.price.materials_fee_fen,
        },
    }


class ProgramFormApi(APIView):
    """What a client needs to render a program's application form: fields (with their choices and
    conditions), documents, the pledges to accept and the materials choice."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [permissions.AllowAny]

    @extend_schema(operation_id="training_program_form", responses={200: ProgramFormOutput, 404: NOT_FOUND})
    def get(self, request, program_code: str):
        rules = rules_current()
        program_rules = _program_rules(rules, program_code)
        # Public catalogue data: an open program of the rules, no owner to check.
        program = Program.objects.filter(code=program_code, is_open=True).first()
        if program_rules is None or program is None:
            raise NotFound("培训项目不存在或未开放报名", code="not_found")
        sessions = selectors.sessions_open(program_codes=[program_code])
        return Response(ProgramFormOutput(_form_data(rules, program_rules, program.name, sessions)).data)


# --- applications -------------------------------------------------------------------------------


class SessionBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    location = serializers.CharField()
    starts_on = serializers.DateField(allow_null=True)
    ends_on = serializers.DateField(allow_null=True)


class ApplicationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="报名编号")
    status = serializers.ChoiceField(choices=ApplicationStatus.choices)
    status_label = serializers.CharField(help_text="本协会对该状态的称呼")
    program = ProgramBriefOutput()
    session = SessionBriefOutput(allow_null=True, help_text="草稿尚未选定班次时为 null")
    channel = serializers.CharField(help_text="self 个人报名 / company 单位报名")
    answers = serializers.DictField()
    with_materials = serializers.BooleanField(allow_null=True)
    fee_fen = serializers.IntegerField()
    rejection_reason = serializers.CharField()
    withdrawal_allowed = serializers.BooleanField(help_text="现在可以撤回")
    resubmit_allowed = serializers.BooleanField(help_text="现在可以修改后重新提交")
    rules_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class EventOutput(serializers.Serializer):
    action = serializers.CharField(help_text="submit、approve、reject、correct、resubmit、withdraw、promote")
    step = serializers.CharField(help_text="审核环节：company / institution / association，其他为空")
    to_status = serializers.CharField()
    reason = serializers.CharField()
    actor_label = serializers.CharField()
    created_at = serializers.DateTimeField()


class ApplicationDetailOutput(ApplicationOutput):
    events = EventOutput(many=True, help_text="办理记录，按时间先后")


def _application_data(rules: Rules, application: Application) -> dict:
    program = _program_rules(rules, application.program.code)
    session = application.session
    return {
        "id": application.pk,
        "number": application.number,
        "status": application.status,
        "status_label": selectors.status_label(rules=rules, status=application.status),
        "program": {"code": application.program.code, "name": application.program.name},
        "session": (
            {
                "id": session.pk,
                "code": session.code,
                "name": session.name,
                "location": session.location,
                "starts_on": session.starts_on,
                "ends_on": session.ends_on,
            }
            if session is not None
            else None
        ),
        "channel": application.channel,
        "answers": application.answers,
        "with_materials": application.with_materials,
        "fee_fen": application.fee_fen,
        "rejection_reason": application.rejection_reason,
        "withdrawal_allowed": program is not None
        and services.withdrawal_allowed(program=program, application=application),
        "resubmit_allowed": program is not None
        and program.resubmit_after_rejection
        and application.status == ApplicationStatus.REJECTED,
        "rules_version": application.rules_version,
        "created_at": application.created_at,
        "submitted_at": application.submitted_at,
        "decided_at": application.decided_at,
        "updated_at": application.updated_at,
    }


def _application_detail(rules: Rules, application: Application, events: list | None = None) -> dict:
    if events is None:
        events = list(ApplicationEvent.objects.filter(application=application).order_by("created_at", "pk"))
    data = {**_application_data(rules, application), "events": events}
    return ApplicationDetailOutput(data).data


def _own_application(*, application_id: int, person: User) -> Application:
    try:
        return selectors.application_get_for_person(application_id=application_id, person=person)
    except Application.DoesNotExist as error:
        raise NotFound("报名不存在", code="not_found") from error


class ApplicationListApi(APIView):
    """The person's own applications (drafts included), newest first."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="application_list",
        responses={200: ApplicationOutput(many=True), 401: UNAUTHENTICATED, 403: NOT_A_PERSON},
    )
    def get(self, request):
        rules = rules_current()
        applications = selectors.applications_for_person(person=request.user)
        return Response(
            ApplicationOutput([_application_data(rules, item) for item in applications], many=True).data
        )


class ApplicationDetailApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="application_get",
        responses={
            200: ApplicationDetailOutput,
            401: UNAUTHENTICATED,
            403: NOT_A_PERSON,
            404: OpenApiResponse(ErrorSerializer, description="`not_found`：不存在，或不是本人的报名"),
        },
    )
    def get(self, request, application_id: int):
        application = _own_application(application_id=application_id, person=request.user)
        return Response(_application_detail(rules_current(), application))


class ApplyInput(serializers.Serializer):
    answers = serializers.DictField(
        required=False, default=dict, help_text="字段 key → 取值（文字、选项值、选项值列表、是否…）"
    )
    pledges = serializers.DictField(
        child=serializers.CharField(), required=False, default=dict, help_text="承诺书 key → 同意的版本号"
    )
    with_materials = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="是否购买培训资料（materials.policy 为 optional 时必填）",
    )


def _submission(values: dict) -> engine.Submission:
    return engine.Submission(
        answers=values["answers"],
        documents=frozenset(),  # the service takes the person's current uploads
        pledges=values["pledges"],
        with_materials=values["with_materials"],
    )


def _apply(*, person: User, session_id: int, values: dict) -> Answer:
    rules, version = _rules_in_force()
    try:
        application = services.application_submit(
            rules=rules,
            rules_version=version,
            session_id=session_id,
            person=person,
            actor=person,
            channel="self",
            submission=_submission(values),
        )
    except services.ApplicationRefused as refused:
        if refused.code == "session_unknown":
            return Answer(status.HTTP_404_NOT_FOUND, {"code": "not_found", "message": refused.message})
        return Answer(status.HTTP_422_UNPROCESSABLE_ENTITY, _refusal(refused))
    # The service hands back the one event it wrote: the answer needs no further query.
    return Answer(
        status.HTTP_201_CREATED, _application_detail(rules, application, events=[application.latest_event])
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "1–64 个字符 [A-Za-z0-9_-]，每次新的报名用一个新值（如 UUID）。网络重试时用同一个值："
        "返回第一次的结果（状态码与内容相同，响应头 Idempotent-Replayed: true），不会重复报名。"
    ),
)


class SessionApplyApi(APIView):
    """Apply the person to a session. Idempotent by the `Idempotency-Key` header."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="training_session_apply",
        parameters=[IDEMPOTENCY_KEY],
        request=ApplyInput,
        responses={
            201: ApplicationDetailOutput,
            400: OpenApiResponse(
                ErrorSerializer, description="`idempotency_key_required`（缺少或格式错误），或请求体格式错误"
            ),
            401: UNAUTHENTICATED,
            403: NOT_A_PERSON,
            404: OpenApiResponse(ErrorSerializer, description="`not_found`：班次不存在或已停止报名"),
            422: OpenApiResponse(
                RefusalOutput,
                description=(
                    REFUSED.description
                    + "；或 `idempotency_key_reused`：同一个 Idempotency-Key 用于不同的请求"
                ),
            ),
        },
    )
    def post(self, request, session_id: int):
        key = request.headers.get(HEADER)
        if not key_is_valid(key):
            return _error(
                status.HTTP_400_BAD_REQUEST,
                "idempotency_key_required",
                "请在请求头 Idempotency-Key 中提供 1–64 位由字母、数字、_ 或 - 组成的唯一值",
            )
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        try:
            answer = idempotent(
                user=request.user,
                key=key,
                fingerprint=request_sha256(method=request.method, path=request.path, data=values),
                work=lambda: _apply(person=request.user, session_id=session_id, values=values),
            )
        except IdempotencyKeyReused as error:
            return _error(status.HTTP_422_UNPROCESSABLE_ENTITY, error.code, error.message)
        response = Response(answer.body, status=answer.status_code)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


CONFLICT = OpenApiResponse(
    ErrorSerializer, description="当前状态不能这样做：" + "、".join(f"`{code}`" for code in CONFLICT_CODES)
)
OWN_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="`not_found`：不存在，或不是本人的报名")


class ApplicationResubmitApi(APIView):
    """After a rejection: send the corrected application again (checked like a new one)."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="application_resubmit",
        request=ApplyInput,
        responses={
            200: ApplicationDetailOutput,
            400: ErrorSerializer,
            401: UNAUTHENTICATED,
            403: NOT_A_PERSON,
            404: OWN_NOT_FOUND,
            409: CONFLICT,
            422: REFUSED,
        },
    )
    def post(self, request, application_id: int):
        application = _own_application(application_id=application_id, person=request.user)
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        rules, version = _rules_in_force()
        if _program_rules(rules, application.program.code) is None:
            return _error(status.HTTP_409_CONFLICT, "invalid_state", "该培训项目已停止报名")
        try:
            application = services.application_resubmit(
                rules=rules,
                rules_version=version,
                application_id=application.pk,
                person=request.user,
                submission=_submission(dict(data.validated_data)),
            )
        except services.ApplicationRefused as refused:
            return Response(_refusal(refused), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except services.ApplicationError as error:
            return _transition_refusal(error)
        return Response(_application_detail(rules, application))


class ApplicationWithdrawApi(APIView):
    """Withdraw (delete) the application while the rules allow it; its seat is released. Withdrawing a
    withdrawn application again answers it unchanged."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="application_withdraw",
        request=None,
        responses={
            200: ApplicationDetailOutput,
            401: UNAUTHENTICATED,
            403: NOT_A_PERSON,
            404: OWN_NOT_FOUND,
            409: CONFLICT,
        },
    )
    def post(self, request, application_id: int):
        application = _own_application(application_id=application_id, person=request.user)
        rules, version = _rules_in_force()
        if _program_rules(rules, application.program.code) is None:
            return _error(status.HTTP_409_CONFLICT, "withdrawal_not_allowed", "该培训项目已停止，不能撤回")
        try:
            application = services.application_withdraw(
                rules=rules, rules_version=version, application_id=application.pk, person=request.user
            )
        except services.ApplicationError as error:
            return _transition_refusal(error)
        return Response(_application_detail(rules, application))


class DocumentUploadOutput(serializers.Serializer):
    key = serializers.CharField()
    id = serializers.IntegerField()
    status = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class ProgramDocumentUploadApi(APIView):
    """Upload one of a program's required documents (multipart field `file`) into the person's own slot;
    it is then sent with the next application or resubmission. Checked against the rules' spec."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="program_document_upload",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses={
            201: DocumentUploadOutput,
            400: OpenApiResponse(ErrorSerializer, description="`file_required`"),
            401: UNAUTHENTICATED,
            403: NOT_A_PERSON,
            404: OpenApiResponse(ErrorSerializer, description="`not_found`：项目或资料不存在"),
            422: OpenApiResponse(
                ErrorSerializer,
                description="文件不符合要求：格式、尺寸、大小、白底、彩色等（`code` 见资料检查）",
            ),
        },
    )
    def post(self, request, program_code: str, document_key: str):
        from shared.documents.checks import UploadProblem
        from shared.documents.services import document_upload

        rules, _ = _rules_in_force()
        program = _program_rules(rules, program_code)
        spec = (
            next((item for item in program.documents if item.key == document_key), None) if program else None
        )
        if spec is None:
            return _error(status.HTTP_404_NOT_FOUND, "not_found", "项目或资料不存在")
        upload = request.FILES.get("file")
        if upload is None:
            return _error(status.HTTP_400_BAD_REQUEST, "file_required", "请选择要上传的文件（字段 file）")
        try:
            document = document_upload(
                owner=request.user,
                key=spec.key,
                spec=spec,
                data=upload.read(),
                filename=upload.name,
                review_required=False,
            )
        except UploadProblem as problem:
            return _error(
                status.HTTP_422_UNPROCESSABLE_ENTITY, problem.code, f"{spec.label}：{problem.message}"
            )
        return Response(
            DocumentUploadOutput(
                {
                    "key": document.key,
                    "id": document.pk,
                    "status": document.status,
                    "width": document.width,
                    "height": document.height,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )

"""Identity over the API, for the WeChat mini-program and integrators: tokens, WeChat login and
registration, and the caller's own profile, invoice titles and mailing addresses.

Authentication is a DRF token (`Authorization: Token <key>`) or the site's session. Tokens live in
the association's schema, so a token issued on one association's host is unknown on every other.
Every refusal is `{"code", "message"}`; service refusals add `detail.field` naming the input at fault.
"""

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from shared.accounts import profile_services
from shared.accounts.identity import IdentityError, PersonRegistration, login_refusal
from shared.accounts.models import Gender, InvoiceTitle, MailingAddress, PersonProfile, User
from shared.accounts.profile_services import AddressData, InvoiceTitleData, ProfileFieldsLocked
from shared.accounts.selectors import (
    address_get_for_owner,
    addresses_for_owner,
    invoice_title_get_for_owner,
    invoice_titles_for_owner,
    profile_get_for_user,
)
from shared.accounts.wechat import wechat_ticket_openid
from shared.api import ErrorSerializer
from tenant_configs.selectors import rules_current

# Token first: an unauthenticated call is answered 401 with `WWW-Authenticate: Token`.
API_AUTHENTICATION = [TokenAuthentication, SessionAuthentication]

STATUS_BY_CODE = {
    "login_refused": status.HTTP_403_FORBIDDEN,
    "login_method_disabled": status.HTTP_403_FORBIDDEN,
    "profile_missing": status.HTTP_404_NOT_FOUND,
    "locked_out": status.HTTP_429_TOO_MANY_REQUESTS,
    "wechat_rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
    "wechat_not_configured": status.HTTP_503_SERVICE_UNAVAILABLE,
    "wechat_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
}


def _refusal(error: IdentityError) -> Response:
    body: dict[str, object] = {"code": error.code, "message": error.message}
    detail: dict[str, object] = {}
    if error.field:
        detail["field"] = error.field
    if isinstance(error, ProfileFieldsLocked):
        detail["fields"] = list(error.fields)
    if detail:
        body["detail"] = detail
    return Response(body, status=STATUS_BY_CODE.get(error.code, status.HTTP_400_BAD_REQUEST))


# --- tokens and WeChat login --------------------------------------------------------------------


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    phone = serializers.CharField()
    company_name = serializers.SerializerMethodField()

    def get_company_name(self, user: User) -> str:
        return user.company.name if user.company_id else ""


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    user = UserOutput()


def _log_in(request, user: User) -> dict:
    """Issue the token and send the usual login signal (last_login; django-axes logs the access and
    resets the failures). Returns the TokenOutput data."""
    token = profile_services.api_token_issue(user=user)
    user_logged_in.send(sender=type(user), request=request, user=user)
    return TokenOutput({"token": token, "user": user}).data


class AuthTokenInput(serializers.Serializer):
    username = serializers.CharField(help_text="手机号、身份证号、统一社会信用代码等，以本协会规则允许的为准")
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class AuthTokenApi(APIView):
    """POST logs in with a password and returns the API token; DELETE logs out (deletes the token)."""

    def _logging_in(self) -> bool:
        request = getattr(self, "request", None)  # None while drf-spectacular inspects the view
        return request is not None and request.method == "POST"

    def get_authenticators(self):
        if self._logging_in():
            return []  # a stale token or a session without CSRF must not stand in the way of logging in
        return [authentication() for authentication in API_AUTHENTICATION]

    def get_permissions(self):
        if self._logging_in():
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Log in with a password and get the API token",
        request=AuthTokenInput,
        responses={200: TokenOutput, **ERRORS, 429: ErrorSerializer},
    )
    def post(self, request):
        data = AuthTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The DRF request is passed on purpose: django-axes marks it (not the Django request) when
        # the login is locked out, so AxesMiddleware leaves our JSON answer alone.
        user = authenticate(
            request=request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return _refusal(IdentityError("locked_out", "登录失败次数过多，账户已暂时锁定，请稍后再试"))
        if user is None:
            return _refusal(IdentityError("invalid_credentials", "账号或密码不正确"))
        refusal = login_refusal(rules=rules_current(), user=user)
        if refusal:
            return _refusal(IdentityError("login_refused", refusal))
        return Response(_log_in(request, user))

    @extend_schema(
        operation_id="auth_token_delete", request=None, responses={204: None, 401: ErrorSerializer}
    )
    def delete(self, request):
        profile_services.api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WechatLoginInput(serializers.Serializer):
    code = serializers.CharField(help_text="小程序 wx.login() 返回的 code")


class WechatLoginOutput(serializers.Serializer):
    registered = serializers.BooleanField()
    token = serializers.CharField(required=False, help_text="registered=true 时返回")
    user = UserOutput(required=False)
    wechat_ticket = serializers.CharField(
        required=False, help_text="registered=false 时返回：10 分钟内用于 /auth/wechat/register/"
    )


class WechatLoginApi(APIView):
    """Exchange a wx.login() code: a token for a known person, else a ticket to register with."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="auth_wechat_login",
        request=WechatLoginInput,
        responses={200: WechatLoginOutput, **ERRORS, 429: ErrorSerializer, 503: ErrorSerializer},
    )
    def post(self, request):
        data = WechatLoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = profile_services.wechat_login(rules=rules_current(), code=data.validated_data["code"])
        except IdentityError as error:
            return _refusal(error)
        if result.user is None:
            return Response(
                WechatLoginOutput({"registered": False, "wechat_ticket": result.wechat_ticket}).data
            )
        return Response({"registered": True, **_log_in(request, result.user)})


class WechatRegisterInput(serializers.Serializer):
    wechat_ticket = serializers.CharField()
    name = serializers.CharField(max_length=50)
    id_number = serializers.CharField(max_length=30)
    phone = serializers.CharField(max_length=20)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="可选：设置后也可用手机号和密码登录",
    )
    sms_code = serializers.CharField(
        required=False, allow_blank=True, help_text="本协会规则要求注册验证短信时必填"
    )


class WechatRegisterApi(APIView):
    """Create the person's account from a WeChat ticket and log them in (201 with the token)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="auth_wechat_register",
        request=WechatRegisterInput,
        responses={201: TokenOutput, **ERRORS},
    )
    def post(self, request):
        data = WechatRegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rules = rules_current()
        try:
            openid = wechat_ticket_openid(ticket=values["wechat_ticket"])
            user = profile_services.person_register_wechat(
                rules=rules,
                openid=openid,
                registration=PersonRegistration(
                    name=values["name"],
                    id_number=values["id_number"],
                    phone=values["phone"],
                    password=values.get("password", ""),
                    sms_code=values.get("sms_code", ""),
                ),
            )
        except IdentityError as error:
            return _refusal(error)
        refusal = login_refusal(rules=rules, user=user)
        if refusal:  # registered, but the rules want an approval first
            return _refusal(IdentityError("login_refused", refusal))
        return Response(_log_in(request, user), status=status.HTTP_201_CREATED)


# --- the caller's profile -----------------------------------------------------------------------


class ProfileOutput(serializers.Serializer):
    name = serializers.CharField()
    gender = serializers.CharField()
    id_type = serializers.CharField()
    id_number = serializers.CharField(help_text="本人可见完整号码")
    phone = serializers.CharField()
    email = serializers.CharField()
    address = serializers.CharField()
    company_name = serializers.CharField(help_text="自填的单位名称")
    company = serializers.CharField(help_text="已加入的企业（经企业审核），没有则为空")
    birth_date = serializers.DateField(allow_null=True)
    education = serializers.CharField()
    ethnicity = serializers.CharField()
    political_status = serializers.CharField()
    work_start_date = serializers.DateField(allow_null=True)
    professional_title = serializers.CharField()
    specialty = serializers.CharField()
    position = serializers.CharField()
    academician_or_master = serializers.CharField()
    postcode = serializers.CharField()
    remark = serializers.CharField()
    qq = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    first_enrolled_at = serializers.DateTimeField(allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), help_text="本协会收集的资料字段")
    locked_fields = serializers.ListField(child=serializers.CharField(), help_text="已锁定、不能再修改的字段")


class ProfileUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    id_type = serializers.CharField(required=False, allow_blank=True)
    id_number = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(
        required=False, allow_blank=True, help_text="更换手机号须走短信验证，这里不能改"
    )
    email = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    company_name = serializers.CharField(required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    education = serializers.CharField(required=False, allow_blank=True)
    ethnicity = serializers.CharField(required=False, allow_blank=True)
    political_status = serializers.CharField(required=False, allow_blank=True)
    work_start_date = serializers.DateField(required=False, allow_null=True)
    professional_title = serializers.CharField(required=False, allow_blank=True)
    specialty = serializers.CharField(required=False, allow_blank=True)
    position = serializers.CharField(required=False, allow_blank=True)
    academician_or_master = serializers.CharField(required=False, allow_blank=True)
    postcode = serializers.CharField(required=False, allow_blank=True)
    remark = serializers.CharField(required=False, allow_blank=True)
    qq = serializers.CharField(required=False, allow_blank=True)


def _profile_data(profile: PersonProfile) -> dict:
    rules = rules_current()
    return ProfileOutput(
        {
            **{field: getattr(profile, field) for field in profile_services.PROFILE_COLUMNS},
            "company": profile.company.name if profile.company_id else "",
            "submitted_at": profile.submitted_at,
            "first_enrolled_at": profile.first_enrolled_at,
            "fields": [field.value for field in rules.identity.profile_fields()],
            "locked_fields": list(profile_services.profile_locked_fields(rules=rules, profile=profile)),
        }
    ).data


class MeProfileApi(APIView):
    """The person's own profile. PATCH changes the given fields unless the rules lock them."""

    authentication_classes = API_AUTHENTICATION

    @extend_schema(operation_id="me_profile_get", responses={200: ProfileOutput, **ERRORS})
    def get(self, request):
        try:
            profile = profile_get_for_user(user=request.user)
        except PersonProfile.DoesNotExist as error:
            raise NotFound("没有个人资料", code="profile_missing") from error
        return Response(_profile_data(profile))

    @extend_schema(
        operation_id="me_profile_update", request=ProfileUpdateInput, responses={200: ProfileOutput, **ERRORS}
    )
    def patch(self, request):
        data = ProfileUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            profile = profile_services.profile_update(
                rules=rules_current(), user=request.user, changes=dict(data.validated_data)
            )
        except IdentityError as error:
            return _refusal(error)
        return Response(_profile_data(profile))


# --- invoice titles and mailing addresses -------------------------------------------------------


class InvoiceTitleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(help_text="发票抬头（单位名称）")
    tax_number = serializers.CharField(help_text="税号")
    address_phone = serializers.CharField(help_text="单位地址、电话号码")
    bank_account = serializers.CharField(help_text="开户银行及银行账户")
    email = serializers.CharField(help_text="电子发票接收邮箱")
    mailing_address = serializers.CharField(help_text="纸质发票邮寄地址")
    is_default = serializers.BooleanField()


class InvoiceTitleInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    tax_number = serializers.CharField(required=False, allow_blank=True, max_length=30)
    address_phone = serializers.CharField(required=False, allow_blank=True, max_length=200)
    bank_account = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    mailing_address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    is_default = serializers.BooleanField(required=False)


def _invoice_title_or_404(*, title_id: int, user: User) -> InvoiceTitle:
    try:
        return invoice_title_get_for_owner(title_id=title_id, user=user)
    except InvoiceTitle.DoesNotExist as error:
        raise NotFound("发票抬头不存在", code="not_found") from error


class InvoiceTitleListApi(APIView):
    """The caller's invoice titles (a company operator's: the company's); POST adds one."""

    authentication_classes = API_AUTHENTICATION

    @extend_schema(
        operation_id="me_invoice_title_list", responses={200: InvoiceTitleOutput(many=True), **ERRORS}
    )
    def get(self, request):
        return Response(InvoiceTitleOutput(invoice_titles_for_owner(user=request.user), many=True).data)

    @extend_schema(
        operation_id="me_invoice_title_create",
        request=InvoiceTitleInput,
        responses={201: InvoiceTitleOutput, **ERRORS},
    )
    def post(self, request):
        data = InvoiceTitleInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            title = profile_services.invoice_title_create(
                user=request.user, data=InvoiceTitleData(**data.validated_data)
            )
        except IdentityError as error:
            return _refusal(error)
        return Response(InvoiceTitleOutput(title).data, status=status.HTTP_201_CREATED)


class InvoiceTitleDetailApi(APIView):
    authentication_classes = API_AUTHENTICATION

    @extend_schema(operation_id="me_invoice_title_get", responses={200: InvoiceTitleOutput, **ERRORS})
    def get(self, request, title_id: int):
        return Response(InvoiceTitleOutput(_invoice_title_or_404(title_id=title_id, user=request.user)).data)

    @extend_schema(
        operation_id="me_invoice_title_update",
        request=InvoiceTitleInput,
        responses={200: InvoiceTitleOutput, **ERRORS},
    )
    def patch(self, request, title_id: int):
        title = _invoice_title_or_404(title_id=title_id, user=request.user)
        data = InvoiceTitleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            title = profile_services.invoice_title_update(
                user=request.user, title=title, changes=dict(data.validated_data)
            )
        except IdentityError as error:
            return _refusal(error)
        return Response(InvoiceTitleOutput(title).data)

    @extend_schema(operation_id="me_invoice_title_delete", responses={204: None, **ERRORS})
    def delete(self, request, title_id: int):
        title = _invoice_title_or_404(title_id=title_id, user=request.user)
        profile_services.invoice_title_delete(user=request.user, title=title)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AddressOutput(serializers.Serializer):
    id = serializers.IntegerField()
    recipient = serializers.CharField(help_text="收件人")
    phone = serializers.CharField(help_text="联系电话")
    province_city = serializers.CharField(help_text="省市区")
    street = serializers.CharField(help_text="详细地址")
    postcode = serializers.CharField(help_text="邮编")
    is_default = serializers.BooleanField()


class AddressInput(serializers.Serializer):
    recipient = serializers.CharField(max_length=50)
    phone = serializers.CharField(max_length=20)
    province_city = serializers.CharField(max_length=100)
    street = serializers.CharField(max_length=200)
    postcode = serializers.CharField(required=False, allow_blank=True, max_length=6)
    is_default = serializers.BooleanField(required=False)


def _address_or_404(*, address_id: int, user: User) -> MailingAddress:
    try:
        return address_get_for_owner(address_id=address_id, user=user)
    except MailingAddress.DoesNotExist as error:
        raise NotFound("邮寄地址不存在", code="not_found") from error


class AddressListApi(APIView):
    """The caller's mailing addresses (a company operator's: the company's); POST adds one."""

    authentication_classes = API_AUTHENTICATION

    @extend_schema(operation_id="me_address_list", responses={200: AddressOutput(many=True), **ERRORS})
    def get(self, request):
        return Response(AddressOutput(addresses_for_owner(user=request.user), many=True).data)

    @extend_schema(
        operation_id="me_address_create", request=AddressInput, responses={201: AddressOutput, **ERRORS}
    )
    def post(self, request):
        data = AddressInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            address = profile_services.address_create(
                user=request.user, data=AddressData(**data.validated_data)
            )
        except IdentityError as error:
            return _refusal(error)
        return Response(AddressOutput(address).data, status=status.HTTP_201_CREATED)


class AddressDetailApi(APIView):
    authentication_classes = API_AUTHENTICATION

    @extend_schema(operation_id="me_address_get", responses={200: AddressOutput, **ERRORS})
    def get(self, request, address_id: int):
        return Response(AddressOutput(_address_or_404(address_id=address_id, user=request.user)).data)

    @extend_schema(
        operation_id="me_address_update",
        request=AddressInput,
        responses={200: AddressOutput, **ERRORS},
    )
    def patch(self, request, address_id: int):
        address = _address_or_404(address_id=address_id, user=request.user)
        data = AddressInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            address = profile_services.address_update(
                user=request.user, address=address, changes=dict(data.validated_data)
            )
        except IdentityError as error:
            return _refusal(error)
        return Response(AddressOutput(address).data)

    @extend_schema(operation_id="me_address_delete", responses={204: None, **ERRORS})
    def delete(self, request, address_id: int):
        address = _address_or_404(address_id=address_id, user=request.user)
        profile_services.address_delete(user=request.user, address=address)
        return Response(status=status.HTTP_204_NO_CONTENT)

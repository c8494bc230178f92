"""Billing API for the mini-program and integrators: my orders, create orders from approved applications
(Idempotency-Key), pay (QR / JSAPI parameters / transfer instructions), cancel, request a refund."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import services
from billing.models import Order
from billing.providers.base import GatewayError, PaymentRequest
from billing.providers.registry import provider_for
from shared.accounts.api import API_AUTHENTICATION
from shared.accounts.models import InvoiceTitle, UserKind
from shared.api import ErrorSerializer
from shared.idempotency import HEADER, Answer, IdempotencyKeyReused, idempotent, key_is_valid, request_sha256
from tenant_configs.schema import PaymentChannel
from tenant_configs.selectors import rules_current, rules_current_version

CHANNEL_LABELS = {
    "wechat_native": "微信扫码支付",
    "wechat_jsapi": "微信支付",
    "alipay_page": "支付宝",
    "alipay_qr": "支付宝扫码",
    "stripe": "银行卡（Stripe）",
    "offline_transfer": "线下汇款",
}


class IsPayer(permissions.BasePermission):
    message = "只有单位或个人账户可以缴费"
    code = "forbidden"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and (user.kind == UserKind.PERSON or (user.kind == UserKind.COMPANY and user.company_id))
        )


def _error(http_status: int, code: str, message: str) -> Response:
    return Response({"code": code, "message": message}, status=http_status)


def orders_of_payer(user):
    """The orders this account pays: its company's (operators) or its own (persons)."""
    if user.kind == UserKind.COMPANY:
        return Order.objects.filter(payer_company_id=user.company_id)
    return Order.objects.filter(payer_person=user)


def order_get_for_payer(*, order_id: int, user) -> Order:
    return orders_of_payer(user).prefetch_related("items", "payments").get(pk=order_id)


class OrderItemOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    amount_fen = serializers.IntegerField()
    application_id = serializers.IntegerField(allow_null=True)


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    reference = serializers.CharField(help_text="线下汇款时填写在附言中的编码（含校验位）")
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    total_fen = serializers.IntegerField()
    currency = serializers.CharField()
    channel = serializers.CharField()
    invoice_type = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    items = OrderItemOutput(many=True, source="items.all")


class OrderCreateInput(serializers.Serializer):
    application_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=500
    )
    membership_fee_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=500
    )
    channel = serializers.ChoiceField(choices=[channel.value for channel in PaymentChannel])
    invoice_type = serializers.CharField(required=False, allow_blank=True, default="")
    invoice_title_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    receipt_email = serializers.EmailField(required=False, allow_blank=True, default="")
    pledges = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

    def validate(self, attrs):
        if not attrs["application_ids"] and not attrs["membership_fee_ids"]:
            raise serializers.ValidationError(
                "请选择要缴费的报名（application_ids）或会费（membership_fee_ids）"
            )
        return attrs


class PayInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=[channel.value for channel in PaymentChannel])


class PayOutput(serializers.Serializer):
    out_trade_no = serializers.CharField()
    kind = serializers.CharField(help_text="redirect / qr / jsapi / transfer")
    url = serializers.CharField()
    qr_content = serializers.CharField()
    jsapi_params = serializers.DictField(help_text="wx.requestPayment 的参数")
    instructions = serializers.DictField(help_text="线下汇款：户名、开户行、账号、附言编码、金额")


class RefundInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    amount_fen = serializers.IntegerField()
    reason = serializers.CharField()


ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="未登录或令牌无效"),
    403: OpenApiResponse(ErrorSerializer, description="`forbidden`：不是单位或个人账户"),
    404: OpenApiResponse(ErrorSerializer, description="`not_found`：不存在，或不是本账户的订单"),
    409: OpenApiResponse(ErrorSerializer, description="当前状态不能这样做（`code` 说明原因）"),
    422: OpenApiResponse(ErrorSerializer, description="规则不允许：封顶、支付方式、发票类型、承诺书等"),
}


class OrderListApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPayer]

    @extend_schema(operation_id="orders_list", responses={200: OrderOutput(many=True), **ERRORS})
    def get(self, request):
        orders = orders_of_payer(request.user).prefetch_related("items")
        return Response(OrderOutput(orders, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        request=OrderCreateInput,
        responses={201: OrderOutput(many=True), 400: ErrorSerializer, **ERRORS},
    )
    def post(self, request):
        key = request.headers.get(HEADER)
        if not key_is_valid(key):
            return _error(400, "idempotency_key_required", "请在请求头 Idempotency-Key 中提供唯一值")
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        try:
            answer = idempotent(
                user=request.user,
                key=key,
                fingerprint=request_sha256(method="POST", path=request.path, data=values),
                work=lambda: _create(request.user, values),
            )
        except IdempotencyKeyReused as error:
            return _error(422, error.code, error.message)
        return Response(answer.body, status=answer.status_code)


def _create(user, values: dict) -> Answer:
    title = {}
    if values["invoice_title_id"]:
        owner = Q(company_id=user.company_id) if user.kind == UserKind.COMPANY else Q(owner=user)
        row = InvoiceTitle.objects.filter(owner, pk=values["invoice_title_id"]).first()
        if row is None:
            return Answer(404, {"code": "not_found", "message": "发票抬头不存在"})
        title = {
            field.name: getattr(row, field.name)
            for field in InvoiceTitle._meta.fields
            if field.name not in ("id", "owner", "company")
        }
    try:
        orders = services.orders_create(
            rules=rules_current(),
            rules_version=rules_current_version().number,
            actor=user,
            request=services.OrderRequest(
                application_ids=values["application_ids"],
                channel=values["channel"],
                invoice_type=values["invoice_type"] or None,
                invoice_title=title,
                receipt_email=values["receipt_email"],
                pledges=values["pledges"],
                membership_fee_ids=values["membership_fee_ids"],
            ),
        )
    except services.BillingError as error:
        return Answer(422, {"code": error.code, "message": error.message})
    return Answer(201, OrderOutput(orders, many=True).data)


def _own_order(request, order_id: int) -> Order | None:
    try:
        return order_get_for_payer(order_id=order_id, user=request.user)
    except Order.DoesNotExist:
        return None


class OrderDetailApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPayer]

    @extend_schema(operation_id="order_get", responses={200: OrderOutput, **ERRORS})
    def get(self, request, order_id: int):
        order = _own_order(request, order_id)
        if order is None:
            return _error(404, "not_found", "订单不存在")
        return Response(OrderOutput(order).data)


class OrderPayApi(APIView):
    """Start a payment attempt: a QR code, a redirect, wx.requestPayment parameters or transfer details."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPayer]

    @extend_schema(
        operation_id="order_pay", request=PayInput, responses={200: PayOutput, 502: ErrorSerializer, **ERRORS}
    )
    def post(self, request, order_id: int):
        order = _own_order(request, order_id)
        if order is None:
            return _error(404, "not_found", "订单不存在")
        data = PayInput(data=request.data)
        data.is_valid(raise_exception=True)
        channel = data.validated_data["channel"]
        rules = rules_current()
        if channel not in rules.billing.channels:
            return _error(422, "channel_not_offered", f"本协会不支持{CHANNEL_LABELS.get(channel, channel)}")
        provider = provider_for(channel)
        if provider is None:
            return _error(422, "channel_not_configured", f"{CHANNEL_LABELS.get(channel, channel)}暂未开通")
        try:
            payment = services.payment_create(order_id=order.pk, actor=request.user, channel=channel)
        except services.BillingError as error:
            return _error(409, error.code, error.message)
        expires = order.expires_at or (
            timezone.now() + timedelta(hours=rules.billing.online_payment_deadline_hours)
        )
        try:
            action = services.payment_start(
                payment=payment,
                provider=provider,
                request=PaymentRequest(
                    out_trade_no=payment.out_trade_no,
                    amount_fen=payment.amount_fen,
                    currency=payment.currency,
                    subject=f"{request.tenant.name} 培训费 {order.items.count()} 人",
                    notify_url=request.build_absolute_uri(f"/pay/notify/{channel}/"),
                    return_url=request.build_absolute_uri(f"/billing/orders/{order.pk}/"),
                    expires_at_iso=timezone.localtime(expires).isoformat(timespec="seconds"),
                    payer_openid=request.user.wechat_openid,
                    client_ip=request.META.get("REMOTE_ADDR", "127.0.0.1"),
                ),
            )
        except GatewayError as error:
            return _error(502, "gateway_unavailable", f"支付通道暂时不可用：{error}")
        return Response(
            PayOutput(
                {
                    "out_trade_no": payment.out_trade_no,
                    "kind": action.kind,
                    "url": action.url,
                    "qr_content": action.qr_content,
                    "jsapi_params": action.jsapi_params,
                    "instructions": action.instructions,
                }
            ).data
        )


class OrderCancelApi(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPayer]

    @extend_schema(operation_id="order_cancel", request=None, responses={200: OrderOutput, **ERRORS})
    def post(self, request, order_id: int):
        order = _own_order(request, order_id)
        if order is None:
            return _error(404, "not_found", "订单不存在")
        try:
            order = services.order_cancel(order_id=order.pk, actor=request.user, reason="付款人取消")
        except services.BillingError as error:
            return _error(409, error.code, error.message)
        return Response(OrderOutput(order).data)


class OrderRefundApi(APIView):
    """Ask for the payment back (miniapp: paid, not attended); staff other than the requester approve."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsPayer]

    @extend_schema(operation_id="order_refund", request=RefundInput, responses={201: RefundOutput, **ERRORS})
    def post(self, request, order_id: int):
        order = _own_order(request, order_id)
        if order is None:
            return _error(404, "not_found", "订单不存在")
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refund = services.refund_request_by_payer(
                rules=rules_current(),
                order_id=order.pk,
                actor=request.user,
                reason=data.validated_data["reason"],
            )
        except services.BillingError as error:
            code = status.HTTP_409_CONFLICT if error.code == "not_refundable" else 422
            return _error(code, error.code, error.message)
        return Response(RefundOutput(refund).data, status=201)

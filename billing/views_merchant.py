"""商户设置 (finance console): finance staff enter each channel's merchant credentials (WeChat Pay APIv2 or
APIv3, Alipay, Stripe) and the e-invoice platform's (billing.einvoice). They are validated and stored encrypted by billing.merchant_settings; keys and secrets
are never shown back (已设置, or the last four characters of a short secret), and a secret field left blank
keeps the stored value. Every save is audited (the fields changed, never their values)."""

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from billing import split
from billing.merchant_settings import (
    CHANNEL_KINDS,
    EINVOICE,
    KEPT_WHEN_BLANK,
    KINDS,
    SLOT_KINDS,
    MerchantSettingsInvalid,
    merchant_settings_load,
    merchant_settings_update,
)
from billing.models import MerchantAccount
from shared.permissions import staff_required
from tenant_configs.selectors import rules_current


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    multiline: bool = False
    required: bool = True
    hint: str = ""

    @property
    def secret(self) -> bool:
        return self.name in KEPT_WHEN_BLANK


KIND_LABELS = {
    "wechat_v2": "微信支付 APIv2（MD5 密钥）",
    "wechat_v3": "微信支付 APIv3（微信支付公钥）",
    "alipay": "支付宝（公钥模式，RSA2）",
    "stripe": "Stripe",
    "einvoice": "电子发票开放平台（HMAC-SHA256 签名）",
}
EINVOICE_LABEL = "电子发票平台"
PEM_HINT = "粘贴 PEM 全文（含 -----BEGIN … 行）"
KIND_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "wechat_v2": (
        FieldSpec("appid", "AppID（公众号或小程序）"),
        FieldSpec("mch_id", "商户号"),
        FieldSpec("api_key", "APIv2 密钥", hint="32 位"),
        FieldSpec("client_cert_pem", "API 证书 apiclient_cert.pem", True, False, "退款时需要；" + PEM_HINT),
        FieldSpec("client_key_pem", "API 证书私钥 apiclient_key.pem", True, False, "与证书同时填写"),
    ),
    "wechat_v3": (
        FieldSpec("appid", "AppID（公众号或小程序）"),
        FieldSpec("mchid", "商户号"),
        FieldSpec("cert_serial_no", "商户 API 证书序列号"),
        FieldSpec("private_key_pem", "商户 API 私钥 apiclient_key.pem", True, hint=PEM_HINT),
        FieldSpec("apiv3_key", "APIv3 密钥", hint="32 位"),
        FieldSpec("wechatpay_public_key_id", "微信支付公钥 ID", hint="PUB_KEY_ID_ 开头"),
        FieldSpec("wechatpay_public_key_pem", "微信支付公钥", True, hint=PEM_HINT),
    ),
    "alipay": (
        FieldSpec("app_id", "应用 AppID"),
        FieldSpec("seller_id", "商户 PID（2088 开头）", required=False, hint="填写后校验每条通知的收款方"),
        FieldSpec("app_private_key", "应用私钥", True, hint="PKCS#1 或 PKCS#8 均可；" + PEM_HINT),
        FieldSpec("alipay_public_key", "支付宝公钥", True, hint="注意是支付宝的公钥，不是应用公钥"),
        FieldSpec("server_url", "网关地址", required=False, hint="留空使用正式环境"),
    ),
    "stripe": (
        FieldSpec("secret_key", "Secret key", hint="sk_live_ / sk_test_ / rk_ 开头"),
        FieldSpec("webhook_secret", "Webhook signing secret", hint="whsec_ 开头"),
    ),
    "einvoice": (
        FieldSpec("endpoint", "接口地址", hint="https:// 开头，由开票平台提供"),
        FieldSpec("app_key", "appKey"),
        FieldSpec("app_secret", "appSecret", hint="至少 16 位"),
        FieldSpec("seller_tax_number", "销售方纳税人识别号", hint="统一社会信用代码，大写字母和数字"),
    ),
}


def _slot_label(channel: str) -> str:
    return EINVOICE_LABEL if channel == EINVOICE else split.CHANNEL_LABELS.get(channel, channel)


def _shown(field: FieldSpec, value: str) -> str:
    """What the page may show of a stored value: plain fields as they are, secrets masked."""
    if not field.secret:
        return value
    if not value:
        return "未设置"
    return "已设置" if field.multiline or len(value) < 12 else f"已设置（尾号 {value[-4:]}）"


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(
        request,
        template,
        {"base_template": "console/base.html", "console_section": "finance", "tab": "merchant", **context},
        status=status,
    )


@staff_required("finance")
@require_GET
def finance_merchant(request: HttpRequest) -> HttpResponse:
    offered = set(rules_current().billing.channels)
    updated = dict(MerchantAccount.objects.values_list("channel", "updated_at"))
    rows = []
    for channel in CHANNEL_KINDS:
        merchant = merchant_settings_load(channel)
        rows.append(
            {
                "channel": channel,
                "label": split.CHANNEL_LABELS.get(channel, channel),
                "offered": channel in offered,
                "kind": KIND_LABELS[merchant.kind] if merchant else "",
                "updated_at": updated.get(channel),
            }
        )
    einvoice = merchant_settings_load(EINVOICE)
    return _page(
        request,
        "billing/finance/merchant.html",
        {
            "rows": rows,
            "einvoice": {
                "kind": KIND_LABELS[einvoice.kind] if einvoice else "",
                "updated_at": updated.get(EINVOICE),
            },
        },
    )


@staff_required("finance")
@require_http_methods(["GET", "POST"])
def finance_merchant_edit(request: HttpRequest, channel: str) -> HttpResponse:
    if channel not in SLOT_KINDS:
        raise Http404("unknown channel")
    kinds = [name for name, model in KINDS.items() if model in SLOT_KINDS[channel]]
    current = merchant_settings_load(channel)
    chosen = request.POST.get("kind") or request.GET.get("kind") or (current.kind if current else kinds[0])
    if chosen not in kinds:
        raise Http404("kind does not fit the channel")
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {field.name: request.POST.get(field.name, "") for field in KIND_FIELDS[chosen]}
        try:
            _, changed = merchant_settings_update(
                channel=channel, kind=chosen, values=values, actor=request.user
            )
        except MerchantSettingsInvalid as invalid:
            errors = invalid.errors
        else:
            label = _slot_label(channel)
            messages.success(
                request,
                f"{label}的商户设置已保存（{len(changed)} 项变更）。"
                if changed
                else f"{label}的商户设置未变更。",
            )
            return redirect("billing:finance-merchant")
    stored = current.model_dump() if current is not None and current.kind == chosen else {}
    fields = [
        {
            "spec": field,
            # After a refused save the plain fields show what was entered; secrets are never echoed.
            "value": ""
            if field.secret
            else (request.POST.get(field.name, "") if errors else stored.get(field.name, "")),
            "shown": _shown(field, stored.get(field.name, "")),
            "stored": bool(stored.get(field.name)),
            "error": errors.get(field.name, ""),
        }
        for field in KIND_FIELDS[chosen]
    ]
    return _page(
        request,
        "billing/finance/merchant_edit.html",
        {
            "channel": channel,
            "label": _slot_label(channel),
            "kinds": [(name, KIND_LABELS[name]) for name in kinds],
            "kind": chosen,
            "fields": fields,
            "error": "；".join(message for field, message in errors.items() if field in ("kind", "__all__"))
            or ("请修改标红的项目后重新保存" if errors else ""),
        },
        status=400 if errors else 200,
    )

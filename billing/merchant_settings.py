"""A tenant's merchant credentials per payment channel: typed (pydantic), encrypted at rest (Fernet) in
`MerchantAccount.settings_encrypted`, one row per channel in the tenant's schema.

Key: `MERCHANT_SETTINGS_KEY` (a Fernet key, `Fernet.generate_key()`) when set; otherwise derived from
`SECRET_KEY` with HKDF-SHA256 (salt "xiehui.merchant-settings.v1", info "fernet", 32 bytes, urlsafe base64).
Rotating SECRET_KEY without setting MERCHANT_SETTINGS_KEY to the old derived key makes stored settings
unreadable, so production should set MERCHANT_SETTINGS_KEY explicitly."""

import base64
import json
import os
from typing import Annotated, Literal, Self

from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from billing.models import MerchantAccount
from shared.accounts.models import User
from shared.services import audit_record


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WechatV2Settings(_Settings):
    """WeChat Pay APIv2: XML signed with the MD5 API key."""

    kind: Literal["wechat_v2"] = "wechat_v2"
    appid: str = Field(min_length=1)
    mch_id: str = Field(min_length=1)
    api_key: str = Field(min_length=32, max_length=32)
    # apiclient_cert.pem / apiclient_key.pem, needed only for refunds (secapi).
    client_cert_pem: str = ""
    client_key_pem: str = ""

    @field_validator("client_cert_pem")
    @classmethod
    def _certificate(cls, value: str) -> str:
        if value.strip():
            try:
                x509.load_pem_x509_certificate(value.strip().encode())
            except ValueError as error:
                raise ValueError("不是有效的证书（PEM）") from error
        return value.strip()

    @field_validator("client_key_pem")
    @classmethod
    def _certificate_key(cls, value: str) -> str:
        if value.strip():
            _private_key(value)
        return value.strip()

    @model_validator(mode="after")
    def _certificate_pair(self) -> Self:
        if bool(self.client_cert_pem) != bool(self.client_key_pem):
            raise PydanticCustomError("certificate_pair", "API 证书和证书私钥须同时填写")
        return self


class WechatV3Settings(_Settings):
    """WeChat Pay APIv3 with the WeChat Pay public key ("微信支付公钥"), which needs no network at start."""

    kind: Literal["wechat_v3"] = "wechat_v3"
    appid: str = Field(min_length=1)
    mchid: str = Field(min_length=1)
    private_key_pem: str = Field(min_length=1)  # the merchant API private key
    cert_serial_no: str = Field(min_length=1)
    apiv3_key: str = Field(min_length=32, max_length=32)
    wechatpay_public_key_pem: str = Field(min_length=1)
    wechatpay_public_key_id: str = Field(min_length=1)  # PUB_KEY_ID_...

    @field_validator("wechatpay_public_key_pem")
    @classmethod
    def _public_pem(cls, value: str) -> str:
        return (
            _public_key(value)
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @field_validator("private_key_pem")
    @classmethod
    def _to_pkcs8(cls, value: str) -> str:
        """wechatpayv3 reads only PKCS#8 ("BEGIN PRIVATE KEY"); the merchant tool may give PKCS#1."""
        return (
            _private_key(value)
            .private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            .decode()
        )


def _pem_body(pem: str) -> str:
    return "".join(line.strip() for line in pem.strip().splitlines() if not line.startswith("-----"))


def _private_key(value: str):
    """An RSA private key in PKCS#1 or PKCS#8, with or without PEM markers."""
    try:
        return serialization.load_der_private_key(base64.b64decode(_pem_body(value)), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError("不是有效的 RSA 私钥（PEM，PKCS#1 或 PKCS#8）") from error


def _public_key(value: str):
    """An RSA public key (SubjectPublicKeyInfo), with or without PEM markers."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(_pem_body(value)))
    except (ValueError, TypeError) as error:
        raise ValueError("不是有效的 RSA 公钥（PEM）") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("不是有效的 RSA 公钥（PEM）")
    return key


def _pkcs1_private_key(value: str) -> str:
    """The official Alipay SDK signs only with PKCS#1 keys; Alipay's key tool hands out PKCS#8 (research
    §2.4). Accept either and store the bare PKCS#1 body."""
    pem = (
        _private_key(value)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    return _pem_body(pem)


class AlipaySettings(_Settings):
    kind: Literal["alipay"] = "alipay"
    app_id: str = Field(min_length=1)
    app_private_key: str = Field(min_length=1)  # stored as the bare PKCS#1 body
    alipay_public_key: str = Field(min_length=1)  # Alipay's key, not the app's own public key
    seller_id: str = ""  # the merchant's PID (2088...); checked on every notify when set
    server_url: str = "https://openapi.alipay.com/gateway.do"

    @field_validator("app_private_key")
    @classmethod
    def _to_pkcs1(cls, value: str) -> str:
        return _pkcs1_private_key(value)

    @field_validator("alipay_public_key")
    @classmethod
    def _bare_public_key(cls, value: str) -> str:
        _public_key(value)
        return _pem_body(value)


class StripeSettings(_Settings):
    kind: Literal["stripe"] = "stripe"
    secret_key: str = Field(pattern=r"^(sk|rk)_(test|live)_")
    webhook_secret: str = Field(pattern=r"^whsec_")


class EInvoiceSettings(_Settings):
    """The e-invoice open platform (billing.einvoice): requests and answers signed with HMAC-SHA256."""

    kind: Literal["einvoice"] = "einvoice"
    endpoint: str = Field(pattern=r"^https://[^\s/?#]+(/[^\s?#]*)?$")
    app_key: str = Field(min_length=1)
    app_secret: str = Field(min_length=16)
    seller_tax_number: str = Field(pattern=r"^[0-9A-Z]{15,20}$")  # 销售方纳税人识别号


MerchantSettings = Annotated[
    WechatV2Settings | WechatV3Settings | AlipaySettings | StripeSettings | EInvoiceSettings,
    Field(discriminator="kind"),
]
_adapter: TypeAdapter = TypeAdapter(MerchantSettings)

# Which settings kinds a channel accepts.
CHANNEL_KINDS: dict[str, tuple[type[_Settings], ...]] = {
    "wechat_native": (WechatV2Settings, WechatV3Settings),
    "wechat_jsapi": (WechatV2Settings, WechatV3Settings),
    "alipay_page": (AlipaySettings,),
    "alipay_qr": (AlipaySettings,),
    "stripe": (StripeSettings,),
}
# Not a payment channel: the row that holds the e-invoice platform's settings.
EINVOICE = "einvoice"
SLOT_KINDS: dict[str, tuple[type[_Settings], ...]] = {**CHANNEL_KINDS, EINVOICE: (EInvoiceSettings,)}


def _fernet() -> Fernet:
    explicit = os.environ.get("MERCHANT_SETTINGS_KEY", "")
    if explicit:
        return Fernet(explicit.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"xiehui.merchant-settings.v1", info=b"fernet"
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def merchant_settings_encrypt(merchant: _Settings) -> str:
    return _fernet().encrypt(merchant.model_dump_json().encode()).decode()


def merchant_settings_decrypt(token: str) -> MerchantSettings:
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as error:
        raise ValueError("merchant settings cannot be decrypted with the current key") from error
    return _adapter.validate_python(data)


def merchant_settings_save(channel: str, merchant: _Settings) -> MerchantAccount:
    """Store (or replace) the current tenant's credentials for `channel` (or the EINVOICE slot). Raises
    ValueError when the settings kind does not fit the channel."""
    if not isinstance(merchant, SLOT_KINDS.get(channel, ())):
        raise ValueError(f"{type(merchant).__name__} does not fit channel {channel}")
    account, _ = MerchantAccount.objects.update_or_create(
        channel=channel,
        defaults={"settings_encrypted": merchant_settings_encrypt(merchant), "updated_at": timezone.now()},
    )
    return account


def merchant_settings_load(channel: str) -> MerchantSettings | None:
    """The current tenant's credentials for `channel`, or None when it has none."""
    account = MerchantAccount.objects.filter(channel=channel).first()
    if account is None:
        return None
    return merchant_settings_decrypt(account.settings_encrypted)


# ---------------------------------------------------------------------------------------------------------
# entering settings in the console
# ---------------------------------------------------------------------------------------------------------

KINDS: dict[str, type[_Settings]] = {
    "wechat_v2": WechatV2Settings,
    "wechat_v3": WechatV3Settings,
    "alipay": AlipaySettings,
    "stripe": StripeSettings,
    "einvoice": EInvoiceSettings,
}
# Never shown back; left blank in the form they keep the stored value (keys, certificates, secrets).
KEPT_WHEN_BLANK: frozenset[str] = frozenset(
    {
        "api_key",
        "client_cert_pem",
        "client_key_pem",
        "private_key_pem",
        "apiv3_key",
        "wechatpay_public_key_pem",
        "app_private_key",
        "alipay_public_key",
        "secret_key",
        "webhook_secret",
        "app_secret",
    }
)


class MerchantSettingsInvalid(ValueError):
    """The entered settings do not validate; `errors` maps a field (or "__all__") to a Chinese message.
    Nothing was stored."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def _message(error: dict) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or error.get("input") == "":
        return "必填"
    if kind in ("string_too_short", "string_too_long"):
        length = context.get("min_length") or context.get("max_length")
        return f"长度应为 {length} 位"
    if kind == "string_pattern_mismatch":
        return "格式不正确"
    if kind == "value_error":
        return str(context.get("error") or "格式不正确")
    return error.get("msg") or "格式不正确"


def merchant_settings_update(
    *, channel: str, kind: str, values: dict[str, str], actor: User
) -> tuple[MerchantAccount, list[str]]:
    """Validate and store the current tenant's credentials for `channel` as entered by finance staff.

    A key, certificate or secret left blank keeps the stored value when the stored settings are of the same
    kind; any other blank field is blank. Writes an audit entry naming the fields that changed (never their
    values). Returns the account and the changed fields.

    Raises MerchantSettingsInvalid (field → message) when the kind does not fit the channel or a value does
    not validate (required fields, key lengths, PEM keys and certificates); nothing is stored then.
    """
    model = KINDS.get(kind)
    if model is None or model not in SLOT_KINDS.get(channel, ()):
        raise MerchantSettingsInvalid({"kind": "该支付方式不能使用这种商户类型"})
    current = merchant_settings_load(channel)
    stored = current.model_dump() if isinstance(current, model) else {}
    data: dict[str, str] = {}
    for name in model.model_fields:
        if name == "kind":
            continue
        value = (values.get(name) or "").strip()
        if not value and name in KEPT_WHEN_BLANK and stored.get(name):
            value = stored[name]
        if value or model.model_fields[name].is_required():
            data[name] = value  # a blank required field fails validation as 必填
        # else: a blank optional field takes its default (no seller id, the production gateway URL)
    try:
        merchant = model(**data)
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "__all__"
            errors.setdefault(field, _message(problem))
        raise MerchantSettingsInvalid(errors) from None
    new = merchant.model_dump()
    changed = sorted(name for name in new if name != "kind" and new[name] != stored.get(name))
    if current is not None and not isinstance(current, model):
        changed = sorted({*changed, "kind"})
    with transaction.atomic():
        account = merchant_settings_save(channel, merchant)
        audit_record(
            actor=actor,
            action="merchant_settings.update",
            target=account,
            data={"channel": channel, "kind": kind, "changed": changed},
        )
    return account, changed

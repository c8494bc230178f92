"""A tenant's merchant credentials per payment channel: typed (pydantic), encrypted at rest (Fernet) in
`MerchantAccount.settings_encrypted`, one row per channel in the tenant's schema.

Key: `MERCHANT_SETTINGS_KEY` (a Fernet key, `Fernet.generate_key()`) when set; otherwise derived from
`SECRET_KEY` with HKDF-SHA256 (salt "xiehui.merchant-settings.v1", info "fernet", 32 bytes, urlsafe base64).
Rotating SECRET_KEY without setting MERCHANT_SETTINGS_KEY to the old derived key makes stored settings
unreadable, so production should set MERCHANT_SETTINGS_KEY explicitly."""

import base64
import json
import os
from typing import Annotated, Literal

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from billing.models import MerchantAccount


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
        raise ValueError("not an RSA private key") from error


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
        return _pem_body(value)


class StripeSettings(_Settings):
    kind: Literal["stripe"] = "stripe"
    secret_key: str = Field(pattern=r"^(sk|rk)_(test|live)_")
    webhook_secret: str = Field(pattern=r"^whsec_")


MerchantSettings = Annotated[
    WechatV2Settings | WechatV3Settings | AlipaySettings | StripeSettings, Field(discriminator="kind")
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
    """Store (or replace) the current tenant's credentials for `channel`. Raises ValueError when the settings
    kind does not fit the channel."""
    if not isinstance(merchant, CHANNEL_KINDS.get(channel, ())):
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

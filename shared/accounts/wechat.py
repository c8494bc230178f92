"""WeChat mini-program login: code2session and the short-lived ticket that carries an openid to registration.

The mini-program calls `wx.login()`, sends us the one-time `code`, and we exchange it at WeChat's
`sns/jscode2session` for the person's `openid` (unique per mini-program). The `session_key` that comes
back is a secret for decrypting `wx.getUserProfile` data; it never leaves the server.
"""

from dataclasses import dataclass

import requests
from django.conf import settings
from django.core import signing
from django.db import connection
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from shared.accounts.identity import IdentityError
from tenant_configs.schema import PersonLoginMethod, Rules

WECHAT_TIMEOUT_SECONDS = 5
WECHAT_TICKET_SALT = "wechat-ticket"
WECHAT_TICKET_MAX_AGE_SECONDS = 600

# errcodes of jscode2session (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html)
CODE_INVALID = {40029, 40163}  # invalid code; code already used
RATE_LIMITED = {45009, 45011}  # API frequency limits


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str
    session_key: str


class _MiniProgramClient(WeChatClient):
    """A WeChatClient that never fetches an access_token.

    jscode2session authenticates with appid + secret alone. The stock client first calls
    /cgi-bin/token for a token it does not need, which spends the app's daily token quota and
    rotates the token other processes of the same app are using. With no token, `requests` drops
    the `access_token=None` query parameter.
    """

    @property
    def access_token(self) -> None:
        return None


def wechat_login_enabled(rules: Rules) -> bool:
    return PersonLoginMethod.WECHAT_MINIPROGRAM in rules.identity.person_login_methods


def wechat_login_check(rules: Rules) -> None:
    """Raises IdentityError `login_method_disabled` unless the rules let people log in with WeChat."""
    if not wechat_login_enabled(rules):
        raise IdentityError("login_method_disabled", "本协会未开通微信小程序登录")


def wechat_miniprogram_credentials() -> tuple[str, str]:
    """The mini-program's appid and secret.

    Platform-wide settings for now; they move to the association's merchant settings when billing
    brings per-tenant WeChat configuration. Raises IdentityError `wechat_not_configured` when unset.
    """
    appid = getattr(settings, "WECHAT_MINIPROGRAM_APPID", "")
    secret = getattr(settings, "WECHAT_MINIPROGRAM_SECRET", "")
    if not appid or not secret:
        raise IdentityError("wechat_not_configured", "微信小程序登录尚未配置，请联系协会")
    return appid, secret


def wechat_code_to_session(*, appid: str, secret: str, code: str) -> WeChatSession:
    """Exchange a `wx.login()` code for the person's openid (one HTTP call to WeChat).

    Raises IdentityError: `wechat_not_configured` (no appid/secret), `wechat_code_invalid` (empty,
    invalid or already used code), `wechat_rate_limited` (WeChat's frequency limit),
    `wechat_unavailable` (network error, HTTP error, any other errcode, or no openid in the reply).
    """
    if not appid or not secret:
        raise IdentityError("wechat_not_configured", "微信小程序登录尚未配置，请联系协会")
    code = code.strip()
    if not code:
        raise IdentityError("wechat_code_invalid", "微信登录凭证无效，请重新进入小程序", "code")
    client = _MiniProgramClient(appid, secret, timeout=WECHAT_TIMEOUT_SECONDS, auto_retry=False)
    try:
        reply = client.wxa.code_to_session(code)
    except WeChatClientException as error:
        if error.errcode in CODE_INVALID:
            raise IdentityError(
                "wechat_code_invalid", "微信登录凭证无效或已使用，请重新进入小程序", "code"
            ) from error
        if error.errcode in RATE_LIMITED:
            raise IdentityError("wechat_rate_limited", "微信登录过于频繁，请稍后再试") from error
        raise IdentityError("wechat_unavailable", "微信登录服务暂时不可用，请稍后再试") from error
    except requests.RequestException as error:
        raise IdentityError("wechat_unavailable", "微信登录服务暂时不可用，请稍后再试") from error
    openid = reply.get("openid", "") if isinstance(reply, dict) else ""
    if not openid:
        raise IdentityError("wechat_unavailable", "微信登录服务暂时不可用，请稍后再试")
    return WeChatSession(
        openid=openid, unionid=reply.get("unionid", ""), session_key=reply.get("session_key", "")
    )


def wechat_ticket_issue(*, openid: str) -> str:
    """A signed ticket proving that this tenant's host saw `openid` log in, for registration."""
    return signing.dumps({"openid": openid, "schema": connection.schema_name}, salt=WECHAT_TICKET_SALT)


def wechat_ticket_openid(*, ticket: str) -> str:
    """The openid in a ticket issued on this tenant within the last 10 minutes.

    Raises IdentityError `wechat_ticket_invalid` for a forged, expired or other-tenant ticket.
    """
    try:
        payload = signing.loads(ticket, salt=WECHAT_TICKET_SALT, max_age=WECHAT_TICKET_MAX_AGE_SECONDS)
    except signing.BadSignature as error:  # SignatureExpired is a BadSignature
        raise IdentityError(
            "wechat_ticket_invalid", "微信登录已过期，请重新进入小程序", "wechat_ticket"
        ) from error
    if (
        not isinstance(payload, dict)
        or payload.get("schema") != connection.schema_name
        or not payload.get("openid")
    ):
        raise IdentityError("wechat_ticket_invalid", "微信登录已过期，请重新进入小程序", "wechat_ticket")
    return str(payload["openid"])

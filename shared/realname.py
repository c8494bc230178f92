"""Real-name verification: does this name belong to this resident ID number?

Providers answer "match", "mismatch" or "no record" as a `RealNameResult`; an outage or an answer
we cannot read raises `RealNameError`, which is not a verdict about the person (callers let them
retry later rather than marking them unverified). `get_realname_provider()` picks the provider from
settings: `REALNAME_PROVIDER` = "local" (development, the default) or "http".

Every provider validates the ID number first (`normalise_id_number`), so a typo is reported
precisely and never spends a paid provider call.
"""

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from shared.errors import CodedError
from shared.validation import normalise_id_number

logger = logging.getLogger("realname")

# Stable reasons, shown to staff and stored with the result.
REASON_MATCH = "姓名与身份证号一致"
REASON_MISMATCH = "姓名与身份证号不一致"
REASON_NO_RECORD = "无此身份证号的记录"


@dataclass(frozen=True)
class RealNameResult:
    verified: bool
    reason: str
    # The provider's id for this check (order number), kept for disputes and billing reconciliation.
    provider_reference: str


class RealNameError(CodedError):
    """The provider could not give a verdict; `code` is stable English, `message` is for people."""


class RealNameProvider(ABC):
    @abstractmethod
    def verify(self, *, name: str, id_number: str) -> RealNameResult:
        """Check the pair. Raises IdentifierError for a malformed ID number, ValueError for an empty
        name, RealNameError when the provider gives no usable answer."""


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValueError("name is required for real-name verification")
    return cleaned


class LocalDevelopmentProvider(RealNameProvider):
    """FOR DEVELOPMENT AND DEMOS ONLY — it checks nothing against any register.

    Any well-formed ID number is "verified" with any name, except the name "不一致", which is
    reported as a mismatch so demos can show the failure path.
    """

    DEMO_MISMATCH_NAME = "不一致"
    REFERENCE = "local-development"

    def verify(self, *, name: str, id_number: str) -> RealNameResult:
        name = _clean_name(name)
        normalise_id_number(id_number)
        if name == self.DEMO_MISMATCH_NAME:
            return RealNameResult(verified=False, reason=REASON_MISMATCH, provider_reference=self.REFERENCE)
        return RealNameResult(verified=True, reason=REASON_MATCH, provider_reference=self.REFERENCE)


class HttpRealNameProvider(RealNameProvider):
    """A "two-element" ID check API in the shape common on Chinese API markets (e.g. Aliyun's):

    POST {base_url}/idcard/verify, form fields `name` and `idcard`, header `Authorization: APPCODE …`;
    answer `{"code": "0", "message": "成功", "result": {"res": "1", "description": "一致",
    "orderNo": "…"}}` with res 1 = match, 2 = mismatch, 3 = no record.

    Logs never contain the name, the ID number or the app code.
    """

    _VERDICTS = {"1": (True, REASON_MATCH), "2": (False, REASON_MISMATCH), "3": (False, REASON_NO_RECORD)}

    def __init__(self, base_url: str, app_code: str, timeout: float = 5) -> None:
        self.url = f"{base_url.rstrip('/')}/idcard/verify"
        self.app_code = app_code
        self.timeout = timeout

    def verify(self, *, name: str, id_number: str) -> RealNameResult:
        name = _clean_name(name)
        id_number = normalise_id_number(id_number)
        body = self._post(name=name, id_number=id_number)
        return self._result_from(body)

    def _post(self, *, name: str, id_number: str) -> dict[str, Any]:
        try:
            response = requests.post(
                self.url,
                data={"name": name, "idcard": id_number},
                headers={"Authorization": f"APPCODE {self.app_code}"},
                timeout=self.timeout,
            )
        except requests.Timeout as error:
            logger.warning("realname provider timed out", extra={"url": self.url})
            raise RealNameError("realname_unavailable", "实名认证服务响应超时，请稍后重试") from error
        except requests.RequestException as error:
            logger.warning("realname provider unreachable: %s", type(error).__name__, extra={"url": self.url})
            raise RealNameError("realname_unavailable", "实名认证服务暂时无法连接，请稍后重试") from error
        if not response.ok:
            # Market gateways put the reason (quota used up, bad app code) in a header, not the body.
            logger.warning(
                "realname provider answered HTTP %s (%s)",
                response.status_code,
                response.headers.get("X-Ca-Error-Message", ""),
            )
            raise RealNameError(
                "realname_unavailable",
                f"实名认证服务暂时不可用（HTTP {response.status_code}），请稍后重试",
            )
        try:
            body = response.json()
        except ValueError as error:
            logger.warning(
                "realname provider answered non-JSON (%s, %d bytes)",
                response.headers.get("Content-Type", ""),
                len(response.content),
            )
            raise _bad_response() from error
        if not isinstance(body, dict):
            raise _bad_response()
        return body

    def _result_from(self, body: dict[str, Any]) -> RealNameResult:
        # Some markets send the code as a number; "0" and 0 mean the same.
        if str(body.get("code")) != "0":
            logger.warning(
                "realname provider refused: code=%s message=%s", body.get("code"), body.get("message")
            )
            raise RealNameError(
                "realname_unavailable",
                f"实名认证服务返回错误（{body.get('code')}：{body.get('message') or '无说明'}），请稍后重试",
            )
        result = body.get("result")
        if not isinstance(result, dict) or str(result.get("res")) not in self._VERDICTS:
            # Keys only: results often echo the name and ID number back.
            logger.warning("realname provider answered an unknown shape: keys %s", sorted(body))
            raise _bad_response()
        verified, reason = self._VERDICTS[str(result["res"])]
        return RealNameResult(
            verified=verified, reason=reason, provider_reference=str(result.get("orderNo") or "")
        )


def _bad_response() -> RealNameError:
    return RealNameError("realname_bad_response", "实名认证服务返回了无法识别的结果，请稍后重试")


def get_realname_provider() -> RealNameProvider:
    """The provider named by settings.REALNAME_PROVIDER ("local" by default, or "http")."""
    kind = getattr(settings, "REALNAME_PROVIDER", "local") or "local"
    if kind == "local":
        return LocalDevelopmentProvider()
    if kind == "http":
        base_url = getattr(settings, "REALNAME_BASE_URL", "")
        app_code = getattr(settings, "REALNAME_APP_CODE", "")
        if not base_url or not app_code:
            raise ImproperlyConfigured("REALNAME_PROVIDER=http needs REALNAME_BASE_URL and REALNAME_APP_CODE")
        return HttpRealNameProvider(base_url=base_url, app_code=app_code)
    raise ImproperlyConfigured(f"REALNAME_PROVIDER must be 'local' or 'http', got {kind!r}")

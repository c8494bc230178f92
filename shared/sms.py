"""SMS verification codes: send a 6-digit code to a mobile number, then verify it once.

The backend that delivers messages is chosen by `settings.SMS_BACKEND` (a dotted path, like
EMAIL_BACKEND): `ConsoleSmsBackend` logs them for development, `LocmemSmsBackend` keeps them for
tests. Real providers (Aliyun, Tencent) are later subclasses of `SmsBackend`.

State lives in the cache, whose keys the project prefixes with the tenant schema, so a code sent on
one association's site never verifies on another's. Only a salted hash of the code is stored, so a
dump of the cache does not reveal live codes.
"""

import datetime
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.module_loading import import_string

from shared.errors import CodedError
from shared.validation import IdentifierError, mask_phone, normalise_mobile

logger = logging.getLogger("sms")

DEFAULT_SMS_BACKEND = "shared.sms.ConsoleSmsBackend"
VERIFICATION_TEMPLATE = "verification_code"
CODE_DIGITS = 6
CODE_TTL_SECONDS = 300
RESEND_INTERVAL_SECONDS = 60
DAILY_SEND_LIMIT = 10
MAX_VERIFY_ATTEMPTS = 5
# Day-scoped counter keys only need to outlive their own day.
_DAILY_COUNTER_TTL_SECONDS = 24 * 60 * 60
# Purposes become part of cache keys; keep them to safe, readable slugs.
_PURPOSE_SHAPE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class SmsError(CodedError):
    """A refused send or verification; `code` is stable English, `message` is for people."""


# --- backends ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentSms:
    phone: str
    template: str
    params: dict[str, str]


class SmsBackend(ABC):
    """Delivers one templated message. Raise on failure; callers decide whether to retry."""

    @abstractmethod
    def send(self, *, phone: str, template: str, params: dict[str, str]) -> None: ...


class ConsoleSmsBackend(SmsBackend):
    """Development only: writes the message (code included) to the `sms` log as one JSON line."""

    def send(self, *, phone: str, template: str, params: dict[str, str]) -> None:
        # The phone is masked: logs outlive the demo. The code is not, or developers could not log in.
        line = {"phone": mask_phone(phone), "template": template, "params": params}
        logger.info(json.dumps(line, ensure_ascii=False, sort_keys=True))


class LocmemSmsBackend(SmsBackend):
    """For tests: keeps every message in the class-level `outbox` (shared by all instances)."""

    outbox: list[SentSms] = []

    def send(self, *, phone: str, template: str, params: dict[str, str]) -> None:
        type(self).outbox.append(SentSms(phone=phone, template=template, params=dict(params)))

    @classmethod
    def reset(cls) -> None:
        # Clear in place so references taken before the reset see the empty outbox.
        cls.outbox.clear()


def get_sms_backend() -> SmsBackend:
    backend_class = import_string(getattr(settings, "SMS_BACKEND", DEFAULT_SMS_BACKEND))
    return backend_class()


# --- verification codes -------------------------------------------------------------------------


def _cooldown_key(phone: str, purpose: str) -> str:
    return f"sms:cooldown:{purpose}:{phone}"


def _daily_key(phone: str) -> str:
    # The day in settings.TIME_ZONE (Beijing), so the limit resets at local midnight.
    today = timezone.localdate(datetime.datetime.fromtimestamp(_now(), tz=datetime.UTC))
    return f"sms:daily:{today.isoformat()}:{phone}"


def _code_key(phone: str, purpose: str) -> str:
    return f"sms:code:{purpose}:{phone}"


def _attempts_key(phone: str, purpose: str) -> str:
    return f"sms:attempts:{purpose}:{phone}"


def _now() -> float:
    # One clock for resend intervals and daily counters, so tests can move it.
    return time.time()


def _clean_phone(phone: str) -> str:
    try:
        return normalise_mobile(phone)
    except IdentifierError as error:
        raise SmsError(code=error.code, message=error.message) from error


def _check_purpose(purpose: str) -> None:
    if not _PURPOSE_SHAPE.fullmatch(purpose):
        raise ValueError(f"SMS code purpose must be a lower-case slug, got {purpose!r}")


def _code_hash(*, code: str, phone: str, purpose: str) -> str:
    # SECRET_KEY is the salt: with only a million possible codes, a hash without it is reversible.
    return hashlib.sha256(f"{code}{settings.SECRET_KEY}{phone}{purpose}".encode()).hexdigest()


def _increment(key: str, *, timeout: int) -> int:
    """Atomically add one to a counter, creating it (with `timeout`) when missing."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def sms_code_send(*, phone: str, purpose: str) -> None:
    """Send a fresh 6-digit code to `phone` for `purpose` (e.g. "login", "register", "password_reset").

    A new code replaces any earlier one for the same phone and purpose and gets fresh attempts.

    Raises SmsError: `mobile_format` (not a mainland mobile number), `sms_too_soon` (a code went to
    this phone for this purpose under 60 s ago), `sms_daily_limit` (10 sends to this phone today,
    all purposes together). Raises ValueError for a purpose that is not a lower-case slug (a
    programming error). Exceptions from the backend propagate after the resend interval is released,
    so the person may try again at once.
    """
    phone = _clean_phone(phone)
    _check_purpose(purpose)
    cooldown_key = _cooldown_key(phone, purpose)
    # add() is atomic: of two simultaneous requests exactly one sets the key and may send.
    if not cache.add(cooldown_key, _now(), timeout=RESEND_INTERVAL_SECONDS):
        raise SmsError(
            code="sms_too_soon",
            message=f"验证码发送过于频繁，请 {_seconds_until_resend(cooldown_key)} 秒后再试",
        )
    if _increment(_daily_key(phone), timeout=_DAILY_COUNTER_TTL_SECONDS) > DAILY_SEND_LIMIT:
        raise SmsError(
            code="sms_daily_limit",
            message=f"该手机号今日获取验证码已达 {DAILY_SEND_LIMIT} 次上限，请明天再试",
        )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # Stored before sending: the message can arrive faster than a slow cache write.
    cache.set_many(
        {
            _code_key(phone, purpose): _code_hash(code=code, phone=phone, purpose=purpose),
            _attempts_key(phone, purpose): 0,
        },
        timeout=CODE_TTL_SECONDS,
    )
    try:
        get_sms_backend().send(phone=phone, template=VERIFICATION_TEMPLATE, params={"code": code})
    except Exception:
        cache.delete_many([cooldown_key, _code_key(phone, purpose), _attempts_key(phone, purpose)])
        raise


def _seconds_until_resend(cooldown_key: str) -> int:
    sent_at = cache.get(cooldown_key)
    if sent_at is None:  # expired just now
        return 1
    return max(1, math.ceil(RESEND_INTERVAL_SECONDS - (_now() - sent_at)))


def sms_code_verify(*, phone: str, purpose: str, code: str) -> None:
    """Return quietly if `code` is the one last sent to `phone` for `purpose`; it is then used up.

    Every try counts, right or wrong, and is counted before comparing so simultaneous guesses cannot
    exceed the limit. After 5 wrong tries the code is burned: even the right code is refused until a
    new one is sent.

    Raises SmsError: `mobile_format`, `sms_code_expired` (none sent, expired or already used),
    `sms_code_wrong` (message says how many tries remain), `sms_code_too_many_attempts`.
    """
    phone = _clean_phone(phone)
    _check_purpose(purpose)
    code_key, attempts_key = _code_key(phone, purpose), _attempts_key(phone, purpose)
    stored_hash = cache.get(code_key)
    if stored_hash is None:
        raise SmsError(code="sms_code_expired", message="验证码已失效，请重新获取")
    try:
        attempts = cache.incr(attempts_key)
    except ValueError:  # the counter expired with the code
        raise SmsError(code="sms_code_expired", message="验证码已失效，请重新获取") from None
    if attempts > MAX_VERIFY_ATTEMPTS:
        raise _too_many_attempts()
    offered_hash = _code_hash(code=_compact_code(code), phone=phone, purpose=purpose)
    if hmac.compare_digest(stored_hash, offered_hash):
        cache.delete_many([code_key, attempts_key])
        return
    remaining = MAX_VERIFY_ATTEMPTS - attempts
    if remaining == 0:
        raise _too_many_attempts()
    raise SmsError(code="sms_code_wrong", message=f"验证码错误，还可尝试 {remaining} 次")


def _too_many_attempts() -> SmsError:
    return SmsError(code="sms_code_too_many_attempts", message="验证码错误次数过多，请重新获取验证码")


def _compact_code(code: str) -> str:
    # Codes pasted from a message often carry spaces; full-width digits come from Chinese keyboards.
    full_width_digits = str.maketrans({chr(0xFF10 + digit): str(digit) for digit in range(10)})
    return "".join((code or "").translate(full_width_digits).split())

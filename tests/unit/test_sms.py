"""SMS verification codes: sending limits, one-time verification, attempts, backends, tenants.

No database: the codes live in a per-test local-memory cache keyed like production (schema prefix),
and a fake clock moves the cache's expiry and the module's resend/daily clock together.
"""

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.db import connection

from shared import sms
from shared.sms import (
    ConsoleSmsBackend,
    LocmemSmsBackend,
    SentSms,
    SmsBackend,
    SmsError,
    get_sms_backend,
    sms_code_send,
    sms_code_verify,
)

PHONE = "13812345678"
OTHER_PHONE = "13987654321"
# 2026-03-15 09:00 in Beijing (01:00 UTC).
START = 1773536400.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tests-sms",
            "KEY_FUNCTION": "django_tenants.cache.make_key",
        }
    }
    cache.clear()
    LocmemSmsBackend.reset()
    yield settings
    cache.clear()
    LocmemSmsBackend.reset()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = FakeClock(START)
    monkeypatch.setattr(sms, "_now", fake.time)
    # The local-memory cache reads time.time() when storing and when checking expiry.
    monkeypatch.setattr(cache_base, "time", fake)
    monkeypatch.setattr(locmem, "time", fake)
    return fake


def in_this_tenant(function):
    """Run `function` in a worker thread as a request for the current tenant would: each thread has
    its own connection, whose schema (and so the cache key prefix) must be set."""
    schema = connection.schema_name

    def run():
        connection.set_schema(schema)
        return function()

    return run


def sent_codes() -> list[str]:
    return [message.params["code"] for message in LocmemSmsBackend.outbox]


def last_code() -> str:
    return sent_codes()[-1]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def refusal(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(SmsError) as caught:
        call(**kwargs)
    assert str(caught.value) == caught.value.message
    return caught.value.code, caught.value.message


# --- sending -------------------------------------------------------------------------------------


def test_send_delivers_a_six_digit_code_to_the_normalised_phone():
    sms_code_send(phone="+86 138 1234 5678", purpose="login")

    [message] = LocmemSmsBackend.outbox
    assert message == SentSms(
        phone=PHONE, template="verification_code", params={"code": message.params["code"]}
    )
    assert len(message.params["code"]) == 6 and message.params["code"].isdigit()


def test_send_uses_secrets_randbelow_and_pads_to_six_digits(monkeypatch):
    monkeypatch.setattr(sms.secrets, "randbelow", lambda upper: 42 if upper == 10**6 else -1)

    sms_code_send(phone=PHONE, purpose="login")

    assert sent_codes() == ["000042"]


def test_only_a_salted_hash_of_the_code_is_stored(settings, monkeypatch):
    # A fixed code, so the search through the raw cache below cannot match the hash by chance.
    monkeypatch.setattr(sms.secrets, "randbelow", lambda upper: 654321)
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()

    stored = cache.get(f"sms:code:login:{PHONE}")

    assert stored == hashlib.sha256(f"{code}{settings.SECRET_KEY}{PHONE}login".encode()).hexdigest()
    assert stored != hashlib.sha256(code.encode()).hexdigest()
    raw_values = [bytes(value) for value in locmem._caches["tests-sms"].values()]
    assert not any(code.encode() in value for value in raw_values)


@pytest.mark.parametrize(
    ("phone", "purpose"), [("12345678901", "login"), ("", "login"), ("+85261234567", "register")]
)
def test_send_refuses_a_non_mainland_mobile_and_sends_nothing(phone, purpose):
    assert refusal(sms_code_send, phone=phone, purpose=purpose) == (
        "mobile_format",
        "手机号格式错误，请填写11位中国大陆手机号",
    )
    assert LocmemSmsBackend.outbox == []


@pytest.mark.parametrize("purpose", ["", "Login", "log in", "login:x", "登录", "a" * 41])
def test_send_refuses_a_purpose_that_is_not_a_slug(purpose):
    with pytest.raises(ValueError, match="purpose must be a lower-case slug"):
        sms_code_send(phone=PHONE, purpose=purpose)
    assert LocmemSmsBackend.outbox == []


@pytest.mark.parametrize(("elapsed", "remaining"), [(0, 60), (0.4, 60), (45, 15), (59.5, 1)])
def test_resending_within_60_seconds_is_refused_and_keeps_the_first_code(clock, elapsed, remaining):
    sms_code_send(phone=PHONE, purpose="login")
    first = last_code()
    clock.advance(elapsed)

    assert refusal(sms_code_send, phone=PHONE, purpose="login") == (
        "sms_too_soon",
        f"验证码发送过于频繁，请 {remaining} 秒后再试",
    )
    assert sent_codes() == [first]
    sms_code_verify(phone=PHONE, purpose="login", code=first)


def test_resending_after_60_seconds_replaces_the_code(clock, monkeypatch):
    codes = iter([111111, 222222])
    monkeypatch.setattr(sms.secrets, "randbelow", lambda upper: next(codes))
    sms_code_send(phone=PHONE, purpose="login")
    clock.advance(60)

    sms_code_send(phone=PHONE, purpose="login")

    assert sent_codes() == ["111111", "222222"]
    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code="111111") == (
        "sms_code_wrong",
        "验证码错误，还可尝试 4 次",
    )
    sms_code_verify(phone=PHONE, purpose="login", code="222222")


def test_the_resend_interval_is_per_phone_and_purpose():
    sms_code_send(phone=PHONE, purpose="login")
    sms_code_send(phone=PHONE, purpose="register")
    sms_code_send(phone=OTHER_PHONE, purpose="login")

    assert [message.phone for message in LocmemSmsBackend.outbox] == [PHONE, PHONE, OTHER_PHONE]


def test_the_eleventh_send_of_the_day_is_refused_until_midnight_in_beijing(clock):
    # Given 10 codes sent today, across purposes (the limit is per phone, not per purpose)
    for index in range(10):
        sms_code_send(phone=PHONE, purpose="login" if index % 2 else "password_reset")
        clock.advance(61)
    code_before = cache.get(f"sms:code:login:{PHONE}")

    # When an eleventh is asked for, Then it is refused and nothing changes
    assert refusal(sms_code_send, phone=PHONE, purpose="register") == (
        "sms_daily_limit",
        "该手机号今日获取验证码已达 10 次上限，请明天再试",
    )
    assert len(LocmemSmsBackend.outbox) == 10
    assert cache.get(f"sms:code:register:{PHONE}") is None
    assert cache.get(f"sms:code:login:{PHONE}") == code_before
    # Another phone is not affected
    sms_code_send(phone=OTHER_PHONE, purpose="register")

    # When the clock passes midnight in Beijing (16:00 UTC), Then sending works again
    clock.now = START + 15 * 3600
    sms_code_send(phone=PHONE, purpose="register")
    assert len(LocmemSmsBackend.outbox) == 12


class BrokenBackend(SmsBackend):
    def send(self, *, phone: str, template: str, params: dict[str, str]) -> None:
        raise ConnectionError("provider down")


def test_a_backend_failure_propagates_and_releases_the_resend_interval(settings):
    settings.SMS_BACKEND = f"{__name__}.BrokenBackend"

    with pytest.raises(ConnectionError, match="provider down"):
        sms_code_send(phone=PHONE, purpose="login")

    assert cache.get(f"sms:code:login:{PHONE}") is None
    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code="000000")[0] == "sms_code_expired"
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    sms_code_send(phone=PHONE, purpose="login")
    sms_code_verify(phone=PHONE, purpose="login", code=last_code())


def test_simultaneous_sends_deliver_exactly_one_code():
    start = threading.Barrier(8)

    def send() -> str:
        start.wait()
        try:
            sms_code_send(phone=PHONE, purpose="login")
            return "sent"
        except SmsError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(lambda _: in_this_tenant(send)(), range(8)))

    assert outcomes == ["sent"] + ["sms_too_soon"] * 7
    assert len(LocmemSmsBackend.outbox) == 1


# --- verifying -----------------------------------------------------------------------------------


def test_the_right_code_verifies_once_and_is_then_used_up():
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()

    sms_code_verify(phone="+86 138-1234-5678", purpose="login", code=code)

    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=code) == (
        "sms_code_expired",
        "验证码已失效，请重新获取",
    )


@pytest.mark.parametrize("typed", ["{code}", " {code} ", "{spaced}", "{full_width}"])
def test_codes_pasted_with_spaces_or_typed_full_width_verify(typed):
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()
    offered = typed.format(
        code=code,
        spaced=f"{code[:3]} {code[3:]}",
        full_width="".join(chr(ord(digit) + 0xFEE0) for digit in code),
    )

    sms_code_verify(phone=PHONE, purpose="login", code=offered)


def test_a_code_is_bound_to_its_purpose_and_phone():
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()

    assert refusal(sms_code_verify, phone=PHONE, purpose="password_reset", code=code)[0] == "sms_code_expired"
    assert refusal(sms_code_verify, phone=OTHER_PHONE, purpose="login", code=code)[0] == "sms_code_expired"
    sms_code_verify(phone=PHONE, purpose="login", code=code)


def test_a_code_expires_after_300_seconds(clock):
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()
    clock.advance(300)

    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=code) == (
        "sms_code_expired",
        "验证码已失效，请重新获取",
    )


def test_a_code_still_verifies_just_before_300_seconds(clock):
    sms_code_send(phone=PHONE, purpose="login")
    clock.advance(299)

    sms_code_verify(phone=PHONE, purpose="login", code=last_code())


def test_verifying_when_nothing_was_sent_is_expired():
    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code="123456") == (
        "sms_code_expired",
        "验证码已失效，请重新获取",
    )


def test_wrong_codes_count_down_then_burn_the_code():
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()

    outcomes = [refusal(sms_code_verify, phone=PHONE, purpose="login", code=wrong(code)) for _ in range(5)]

    assert outcomes == [
        ("sms_code_wrong", "验证码错误，还可尝试 4 次"),
        ("sms_code_wrong", "验证码错误，还可尝试 3 次"),
        ("sms_code_wrong", "验证码错误，还可尝试 2 次"),
        ("sms_code_wrong", "验证码错误，还可尝试 1 次"),
        ("sms_code_too_many_attempts", "验证码错误次数过多，请重新获取验证码"),
    ]
    # Burned: even the right code is refused now.
    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=code) == (
        "sms_code_too_many_attempts",
        "验证码错误次数过多，请重新获取验证码",
    )


def test_the_right_code_on_the_fifth_try_still_verifies():
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()
    for _ in range(4):
        refusal(sms_code_verify, phone=PHONE, purpose="login", code=wrong(code))

    sms_code_verify(phone=PHONE, purpose="login", code=code)


@pytest.mark.parametrize("offered", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_are_wrong_tries(offered):
    sms_code_send(phone=PHONE, purpose="login")

    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=offered) == (
        "sms_code_wrong",
        "验证码错误，还可尝试 4 次",
    )


def test_a_new_code_after_burning_gets_fresh_attempts(clock):
    sms_code_send(phone=PHONE, purpose="login")
    for _ in range(5):
        refusal(sms_code_verify, phone=PHONE, purpose="login", code=wrong(last_code()))
    clock.advance(60)

    sms_code_send(phone=PHONE, purpose="login")

    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=wrong(last_code())) == (
        "sms_code_wrong",
        "验证码错误，还可尝试 4 次",
    )
    sms_code_verify(phone=PHONE, purpose="login", code=last_code())


def test_simultaneous_wrong_guesses_cannot_exceed_five_tries():
    sms_code_send(phone=PHONE, purpose="login")
    guess = wrong(last_code())
    start = threading.Barrier(12)

    def verify() -> str:
        start.wait()
        try:
            sms_code_verify(phone=PHONE, purpose="login", code=guess)
        except SmsError as error:
            return error.code
        return "verified"

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = sorted(pool.map(lambda _: in_this_tenant(verify)(), range(12)))

    assert outcomes == ["sms_code_too_many_attempts"] * 8 + ["sms_code_wrong"] * 4


def test_a_code_sent_on_one_tenant_does_not_verify_on_another():
    # Given a code sent while serving tenant A (the cache key function prefixes the schema)
    connection.set_schema("sichuan")
    sms_code_send(phone=PHONE, purpose="login")
    code = last_code()

    # When the same phone and code are tried on tenant B, Then there is no code there
    connection.set_schema("sichuanb")
    assert refusal(sms_code_verify, phone=PHONE, purpose="login", code=code)[0] == "sms_code_expired"

    # And tenant A's code is untouched by B's try
    connection.set_schema("sichuan")
    sms_code_verify(phone=PHONE, purpose="login", code=code)


# --- backends ------------------------------------------------------------------------------------


def test_the_backend_comes_from_settings(settings):
    assert type(get_sms_backend()) is LocmemSmsBackend

    del settings.SMS_BACKEND
    assert type(get_sms_backend()) is ConsoleSmsBackend

    settings.SMS_BACKEND = f"{__name__}.BrokenBackend"
    assert type(get_sms_backend()) is BrokenBackend


def test_console_backend_logs_one_json_line_with_the_phone_masked(caplog):
    caplog.set_level(logging.INFO, logger="sms")

    ConsoleSmsBackend().send(phone=PHONE, template="verification_code", params={"code": "123456"})

    [record] = [record for record in caplog.records if record.name == "sms"]
    assert json.loads(record.getMessage()) == {
        "phone": "138****5678",
        "template": "verification_code",
        "params": {"code": "123456"},
    }


def test_locmem_outbox_is_shared_by_instances_and_reset_in_place():
    outbox = LocmemSmsBackend.outbox
    LocmemSmsBackend().send(phone=PHONE, template="t", params={"code": "1"})
    LocmemSmsBackend().send(phone=OTHER_PHONE, template="t", params={"code": "2"})

    assert outbox == [
        SentSms(phone=PHONE, template="t", params={"code": "1"}),
        SentSms(phone=OTHER_PHONE, template="t", params={"code": "2"}),
    ]
    LocmemSmsBackend.reset()
    assert outbox == [] and LocmemSmsBackend.outbox is outbox

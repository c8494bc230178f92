"""Real-name verification: the development provider, the HTTP provider (mocked at the HTTP boundary
with recorded-style bodies) and the choice of provider from settings."""

import json

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured
from responses import matchers

from shared.realname import (
    REASON_MATCH,
    REASON_MISMATCH,
    REASON_NO_RECORD,
    HttpRealNameProvider,
    LocalDevelopmentProvider,
    RealNameError,
    RealNameResult,
    get_realname_provider,
)
from shared.validation import IdentifierError

BASE_URL = "https://idcard.example.com"
VERIFY_URL = f"{BASE_URL}/idcard/verify"
APP_CODE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
NAME = "张三"
ID_NUMBER = "11010519491231002X"


def provider_body(res: str, description: str, order_number: str) -> dict:
    """A body as the market APIs return it: the verdict plus the person's details echoed back."""
    return {
        "code": "0",
        "message": "成功",
        "result": {
            "name": NAME,
            "idcard": ID_NUMBER,
            "res": res,
            "description": description,
            "sex": "女",
            "birthday": "19491231",
            "address": "北京市朝阳区",
            "orderNo": order_number,
        },
    }


MATCH_BODY = provider_body("1", "一致", "202603151030451234567")
MISMATCH_BODY = provider_body("2", "不一致", "202603151031029876543")
NO_RECORD_BODY = {
    "code": "0",
    "message": "成功",
    "result": {
        "name": NAME,
        "idcard": ID_NUMBER,
        "res": "3",
        "description": "无记录",
        "orderNo": "202603151032117654321",
    },
}


@pytest.fixture
def provider() -> HttpRealNameProvider:
    return HttpRealNameProvider(base_url=BASE_URL + "/", app_code=APP_CODE)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def expect_request(http, **kwargs) -> None:
    """The provider must post the form fields and the APPCODE header exactly as the market expects."""
    http.add(
        responses.POST,
        VERIFY_URL,
        match=[
            matchers.urlencoded_params_matcher({"name": NAME, "idcard": ID_NUMBER}),
            matchers.header_matcher({"Authorization": f"APPCODE {APP_CODE}"}),
        ],
        **kwargs,
    )


# --- HTTP provider: verdicts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            MATCH_BODY,
            RealNameResult(verified=True, reason=REASON_MATCH, provider_reference="202603151030451234567"),
        ),
        (
            MISMATCH_BODY,
            RealNameResult(
                verified=False, reason=REASON_MISMATCH, provider_reference="202603151031029876543"
            ),
        ),
        (
            NO_RECORD_BODY,
            RealNameResult(
                verified=False, reason=REASON_NO_RECORD, provider_reference="202603151032117654321"
            ),
        ),
        (
            # Some markets send numbers rather than strings.
            {"code": 0, "message": "成功", "result": {"res": 1, "description": "一致", "orderNo": "A1"}},
            RealNameResult(verified=True, reason=REASON_MATCH, provider_reference="A1"),
        ),
    ],
)
def test_http_provider_turns_the_verdict_into_a_result(http, provider, body, expected):
    expect_request(http, json=body)

    assert provider.verify(name=NAME, id_number=ID_NUMBER) == expected


def test_http_provider_sends_the_normalised_id_number_and_trimmed_name(http, provider):
    expect_request(http, json=MATCH_BODY)

    result = provider.verify(name="  张三 ", id_number="110105 19491231 002x")

    assert result.verified is True
    assert http.calls[0].request.url == VERIFY_URL


def test_http_provider_uses_the_configured_timeout(http):
    expect_request(http, json=MATCH_BODY)

    HttpRealNameProvider(base_url=BASE_URL, app_code=APP_CODE, timeout=2.5).verify(
        name=NAME, id_number=ID_NUMBER
    )

    assert http.calls[0].request.req_kwargs["timeout"] == 2.5


# --- HTTP provider: no verdict ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "code", "message"),
    [
        (
            {"json": {"code": "10001", "message": "身份证号格式不正确", "result": None}},
            "realname_unavailable",
            "实名认证服务返回错误（10001：身份证号格式不正确），请稍后重试",
        ),
        (
            {"json": {"code": "500", "message": "", "result": {}}},
            "realname_unavailable",
            "实名认证服务返回错误（500：无说明），请稍后重试",
        ),
        (
            {
                "status": 500,
                "body": "<html><body>Internal Server Error</body></html>",
                "content_type": "text/html",
            },
            "realname_unavailable",
            "实名认证服务暂时不可用（HTTP 500），请稍后重试",
        ),
        (
            # The Aliyun API gateway refuses an exhausted quota with 403 and a header, no body.
            {
                "status": 403,
                "body": "",
                "headers": {"X-Ca-Error-Message": "Api Market Subscription quota exhausted"},
            },
            "realname_unavailable",
            "实名认证服务暂时不可用（HTTP 403），请稍后重试",
        ),
        (
            {"body": requests.exceptions.ReadTimeout("Read timed out. (read timeout=5)")},
            "realname_unavailable",
            "实名认证服务响应超时，请稍后重试",
        ),
        (
            {"body": requests.exceptions.ConnectTimeout("Connection to idcard.example.com timed out")},
            "realname_unavailable",
            "实名认证服务响应超时，请稍后重试",
        ),
        (
            {"body": requests.exceptions.ConnectionError("Name or service not known")},
            "realname_unavailable",
            "实名认证服务暂时无法连接，请稍后重试",
        ),
        (
            {"body": "<html>502 Bad Gateway</html>", "content_type": "text/html"},
            "realname_bad_response",
            "实名认证服务返回了无法识别的结果，请稍后重试",
        ),
        (
            {"body": "", "content_type": "application/json"},
            "realname_bad_response",
            "实名认证服务返回了无法识别的结果，请稍后重试",
        ),
        (
            {"json": ["一致"]},
            "realname_bad_response",
            "实名认证服务返回了无法识别的结果，请稍后重试",
        ),
        (
            {"json": {"code": "0", "message": "成功"}},
            "realname_bad_response",
            "实名认证服务返回了无法识别的结果，请稍后重试",
        ),
        (
            {"json": {"code": "0", "message": "成功", "result": {"res": "4", "description": "未知"}}},
            "realname_bad_response",
            "实名认证服务返回了无法识别的结果，请稍后重试",
        ),
    ],
)
def test_http_provider_raises_when_there_is_no_verdict(http, provider, response, code, message):
    expect_request(http, **response)

    with pytest.raises(RealNameError) as caught:
        provider.verify(name=NAME, id_number=ID_NUMBER)

    assert (caught.value.code, caught.value.message, str(caught.value)) == (code, message, message)


def test_http_provider_logs_no_personal_data_when_the_answer_is_unreadable(http, provider, caplog):
    expect_request(http, json={"code": "0", "result": {"name": NAME, "idcard": ID_NUMBER, "res": "9"}})

    with pytest.raises(RealNameError):
        provider.verify(name=NAME, id_number=ID_NUMBER)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unknown shape" in logged
    assert NAME not in logged and ID_NUMBER not in logged and APP_CODE not in logged


@pytest.mark.parametrize(
    ("id_number", "code"),
    [("11010519491231002Y", "id_number_format"), ("110105194912310021", "id_number_checksum")],
)
def test_http_provider_refuses_a_malformed_id_number_without_calling(http, provider, id_number, code):
    with pytest.raises(IdentifierError) as caught:
        provider.verify(name=NAME, id_number=id_number)

    assert caught.value.code == code
    assert len(http.calls) == 0


def test_http_provider_refuses_an_empty_name_without_calling(http, provider):
    with pytest.raises(ValueError, match="name is required"):
        provider.verify(name=" \u3000 ", id_number=ID_NUMBER)
    assert len(http.calls) == 0


# --- development provider ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (NAME, RealNameResult(verified=True, reason=REASON_MATCH, provider_reference="local-development")),
        (
            "买买提·艾力",
            RealNameResult(verified=True, reason=REASON_MATCH, provider_reference="local-development"),
        ),
        (
            "不一致",
            RealNameResult(verified=False, reason=REASON_MISMATCH, provider_reference="local-development"),
        ),
        (
            " 不一致 ",
            RealNameResult(verified=False, reason=REASON_MISMATCH, provider_reference="local-development"),
        ),
    ],
)
def test_local_provider_verifies_any_well_formed_id_number_except_the_demo_name(name, expected):
    assert LocalDevelopmentProvider().verify(name=name, id_number="11010519491231002x") == expected


def test_local_provider_refuses_a_malformed_id_number():
    with pytest.raises(IdentifierError) as caught:
        LocalDevelopmentProvider().verify(name=NAME, id_number="110105194912310021")

    assert caught.value.code == "id_number_checksum"


# --- choosing the provider -------------------------------------------------------------------------


def test_local_is_the_default_provider(settings):
    del settings.REALNAME_PROVIDER

    assert type(get_realname_provider()) is LocalDevelopmentProvider


def test_http_provider_is_built_from_settings(settings, http):
    settings.REALNAME_PROVIDER = "http"
    settings.REALNAME_BASE_URL = BASE_URL
    settings.REALNAME_APP_CODE = APP_CODE
    expect_request(http, body=json.dumps(MATCH_BODY, ensure_ascii=False), content_type="application/json")

    provider = get_realname_provider()

    assert type(provider) is HttpRealNameProvider
    assert (provider.url, provider.timeout) == (VERIFY_URL, 5)
    assert provider.verify(name=NAME, id_number=ID_NUMBER).verified is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"REALNAME_PROVIDER": "http", "REALNAME_BASE_URL": "", "REALNAME_APP_CODE": APP_CODE}, "needs"),
        ({"REALNAME_PROVIDER": "http", "REALNAME_BASE_URL": BASE_URL, "REALNAME_APP_CODE": ""}, "needs"),
        ({"REALNAME_PROVIDER": "aliyun"}, "must be 'local' or 'http'"),
    ],
)
def test_misconfigured_provider_fails_loudly(settings, overrides, message):
    for name, value in overrides.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        get_realname_provider()

"""The identity API (mini-program and integrators): tokens, WeChat login and registration, the caller's
own profile, invoice titles and addresses. WeChat is mocked at the HTTP boundary with its real replies."""

import pytest
import responses
from django.utils import timezone
from django_tenants.utils import schema_context
from responses import matchers
from rest_framework.authtoken.models import Token

from shared.accounts.models import Company, InvoiceTitle, MailingAddress, PersonProfile, User, UserKind
from shared.models import AuditEntry
from tests.conftest import CONFIGS, host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

PASSWORD = "Jianli-2026"
APPID = "wx_miniprogram_appid"
SECRET = "mp_secret_0123456789"
JSCODE2SESSION = "https://api.weixin.qq.com/sns/jscode2session"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
SICHUAN = "sichuan.localhost"
SICHUANB = "sichuanb.localhost"


# --- helpers ------------------------------------------------------------------------------------


def _person(schema: str, *, phone="13812345678", name="张伟", id_number=None, **profile) -> User:
    id_number = id_number or valid_id_number("510104", "19850312", "123")
    with schema_context(schema):
        user = User.objects.create_user(
            phone, PASSWORD, name=name, phone=phone, id_number=id_number, kind=UserKind.PERSON
        )
        PersonProfile.objects.create(
            user=user,
            name=name,
            id_number=id_number,
            phone=phone,
            gender="male",
            submitted_at=timezone.now(),
            **profile,
        )
    return user


def _company_operator(schema: str, *, company_name: str, phone: str) -> User:
    with schema_context(schema):
        company = Company.objects.create(name=company_name)
        return User.objects.create_user(
            phone, PASSWORD, name="经办人", phone=phone, kind=UserKind.COMPANY, company=company
        )


def _post(client, path: str, payload: dict, token: str | None = None):
    extra = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    return client.post(path, payload, content_type="application/json", **extra)


def _patch(client, path: str, payload: dict, token: str):
    return client.patch(path, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")


def _get(client, path: str, token: str):
    return client.get(path, HTTP_AUTHORIZATION=f"Token {token}")


def _delete(client, path: str, token: str):
    return client.delete(path, HTTP_AUTHORIZATION=f"Token {token}")


def _token(hostname: str, username: str) -> str:
    response = _post(
        host_client(hostname), "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _publish_miniapp_rules(schema: str, django_capture_on_commit_callbacks) -> None:
    """Give an existing test tenant the mini-program association's rules (WeChat login, locks on
    enrolment), through the real publishing path; the test's transaction is rolled back afterwards."""
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
    from tenant_configs.services import rules_publish

    data = rules_to_data(load_rules_file(CONFIGS / "miniapp.toml"))
    data["association"]["slug"] = schema
    with schema_context(schema), django_capture_on_commit_callbacks(execute=True):
        rules_publish(rules=load_rules_data(data, source=f"miniapp.toml as {schema}"), actor=None)


@pytest.fixture
def wechat(settings):
    settings.WECHAT_MINIPROGRAM_APPID = APPID
    settings.WECHAT_MINIPROGRAM_SECRET = SECRET
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _jscode2session(mock, code: str, body: dict) -> None:
    """WeChat's reply to GET sns/jscode2session for this code (and only for our appid and secret)."""
    mock.add(
        responses.GET,
        JSCODE2SESSION,
        json=body,
        match=[
            matchers.query_param_matcher(
                {"appid": APPID, "secret": SECRET, "js_code": code, "grant_type": "authorization_code"}
            )
        ],
    )


def _session_reply(openid: str = OPENID) -> dict:
    return {
        "openid": openid,
        "session_key": "tiihtNczf5v6AKRyjwEUhQ==",
        "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
    }


# --- password login and tokens ------------------------------------------------------------------


def test_token_login_by_phone_works_on_its_tenant_and_the_token_is_unknown_on_the_look_alike(
    tenant_a, tenant_b
):
    _person("sichuan")
    _person("sichuanb")  # the twin: same phone, same password, its own token
    twin_token = _token(SICHUANB, "13812345678")

    response = _post(
        host_client(SICHUAN), "/api/v1/auth/token/", {"username": "138 1234 5678", "password": PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["phone"] == "13812345678" and body["user"]["kind"] == "person"
    token = body["token"]
    assert _get(host_client(SICHUAN), "/api/v1/me/profile/", token).json()["name"] == "张伟"
    elsewhere = _get(host_client(SICHUANB), "/api/v1/me/profile/", token)
    assert elsewhere.status_code == 401
    assert elsewhere.json()["code"] == "authentication_failed"
    assert token != twin_token
    with schema_context("sichuanb"):
        assert not Token.objects.filter(key=token).exists()


def test_a_wrong_password_is_refused_and_issues_no_token(tenant_a):
    _person("sichuan")

    response = _post(
        host_client(SICHUAN), "/api/v1/auth/token/", {"username": "13812345678", "password": "wrong-password"}
    )

    assert response.status_code == 400
    assert response.json() == {"code": "invalid_credentials", "message": "账号或密码不正确"}
    with schema_context("sichuan"):
        assert not Token.objects.exists()


def test_token_login_is_locked_after_five_failures(tenant_a):
    _person("sichuan")
    client = host_client(SICHUAN)
    failures = [
        _post(client, "/api/v1/auth/token/", {"username": "13812345678", "password": "wrong-password"})
        for _ in range(5)
    ]

    locked = _post(client, "/api/v1/auth/token/", {"username": "13812345678", "password": PASSWORD})

    assert [failure.status_code for failure in failures] == [400, 400, 400, 400, 429]
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert locked["Content-Type"] == "application/json"
    with schema_context("sichuan"):
        assert not Token.objects.exists()


def test_logout_deletes_the_token(tenant_a):
    _person("sichuan")
    token = _token(SICHUAN, "13812345678")

    response = _delete(host_client(SICHUAN), "/api/v1/auth/token/", token)

    assert response.status_code == 204
    assert _get(host_client(SICHUAN), "/api/v1/me/profile/", token).status_code == 401
    with schema_context("sichuan"):
        assert not Token.objects.exists()


def test_the_api_needs_a_login(tenant_a):
    response = host_client(SICHUAN).get("/api/v1/me/invoice-titles/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- WeChat login and registration --------------------------------------------------------------


def test_wechat_login_is_refused_where_the_rules_do_not_offer_it(tenant_a, wechat):
    _jscode2session(wechat, "081Kq4Ga1MSox41ufFGa1elVnj2Kq4Gn", _session_reply())

    response = _post(
        host_client(SICHUAN), "/api/v1/auth/wechat/", {"code": "081Kq4Ga1MSox41ufFGa1elVnj2Kq4Gn"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "login_method_disabled"
    assert len(wechat.calls) == 0  # WeChat is not even asked


def test_a_new_wechat_user_registers_with_the_ticket_then_logs_in_with_wechat(
    tenant_a, wechat, django_capture_on_commit_callbacks
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    _jscode2session(wechat, "code-first-visit", _session_reply())
    _jscode2session(wechat, "code-second-visit", _session_reply())
    client = host_client(SICHUAN)

    first = _post(client, "/api/v1/auth/wechat/", {"code": "code-first-visit"})
    ticket = first.json()["wechat_ticket"]
    registered = _post(
        client,
        "/api/v1/auth/wechat/register/",
        {
            "wechat_ticket": ticket,
            "name": "王朝",
            "id_number": valid_id_number("421345", "19900312", "431"),
            "phone": "13912345678",
        },
    )
    again = _post(client, "/api/v1/auth/wechat/", {"code": "code-second-visit"})

    assert first.status_code == 200 and first.json() == {"registered": False, "wechat_ticket": ticket}
    assert "?appid=wx_miniprogram_appid" in wechat.calls[0].request.url
    assert "access_token" not in wechat.calls[0].request.url  # no /cgi-bin/token round trip
    assert registered.status_code == 201, registered.content
    assert registered.json()["user"]["name"] == "王朝"
    assert again.status_code == 200
    assert again.json()["registered"] is True
    assert again.json()["token"] == registered.json()["token"]
    assert again.json()["user"]["id"] == registered.json()["user"]["id"]
    with schema_context("sichuan"):
        user = User.objects.get(phone="13912345678")
        assert user.wechat_openid == OPENID and user.kind == UserKind.PERSON
        assert not user.has_usable_password()  # WeChat only, until they set one
        assert user.profile.gender == "male" and user.profile.name == "王朝"
        assert AuditEntry.objects.filter(action="person.wechat_bind", object_id=str(user.pk)).exists()


@pytest.mark.parametrize(
    ("reply", "status_code", "code"),
    [
        ({"errcode": 40029, "errmsg": "invalid code"}, 400, "wechat_code_invalid"),
        ({"errcode": 40163, "errmsg": "code been used"}, 400, "wechat_code_invalid"),
        ({"errcode": 45011, "errmsg": "api minute-quota reach limit"}, 429, "wechat_rate_limited"),
        ({"errcode": -1, "errmsg": "system error"}, 503, "wechat_unavailable"),
    ],
)
def test_wechat_refusals_are_answered_with_stable_codes(
    tenant_a, wechat, django_capture_on_commit_callbacks, reply, status_code, code
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    _jscode2session(wechat, "used-code", reply)

    response = _post(host_client(SICHUAN), "/api/v1/auth/wechat/", {"code": "used-code"})

    assert response.status_code == status_code
    assert response.json()["code"] == code
    assert len(wechat.calls) == 1
    with schema_context("sichuan"):
        assert not Token.objects.exists()


def test_wechat_login_without_appid_and_secret_is_refused(
    tenant_a, settings, django_capture_on_commit_callbacks
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    settings.WECHAT_MINIPROGRAM_APPID = ""
    settings.WECHAT_MINIPROGRAM_SECRET = ""

    response = _post(host_client(SICHUAN), "/api/v1/auth/wechat/", {"code": "any"})

    assert response.status_code == 503
    assert response.json()["code"] == "wechat_not_configured"


def test_a_wechat_ticket_works_only_on_its_tenant_and_only_once(
    tenant_a, tenant_b, wechat, django_capture_on_commit_callbacks
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    _publish_miniapp_rules("sichuanb", django_capture_on_commit_callbacks)
    _jscode2session(wechat, "code-on-b", _session_reply())
    _jscode2session(wechat, "code-on-a", _session_reply())
    payload = {
        "name": "王朝",
        "id_number": valid_id_number("421345", "19900312", "431"),
        "phone": "13912345678",
    }
    ticket_b = _post(host_client(SICHUANB), "/api/v1/auth/wechat/", {"code": "code-on-b"}).json()[
        "wechat_ticket"
    ]

    cross = _post(
        host_client(SICHUAN), "/api/v1/auth/wechat/register/", {"wechat_ticket": ticket_b, **payload}
    )
    ticket_a = _post(host_client(SICHUAN), "/api/v1/auth/wechat/", {"code": "code-on-a"}).json()[
        "wechat_ticket"
    ]
    first = _post(
        host_client(SICHUAN), "/api/v1/auth/wechat/register/", {"wechat_ticket": ticket_a, **payload}
    )
    replay = _post(
        host_client(SICHUAN),
        "/api/v1/auth/wechat/register/",
        {
            "wechat_ticket": ticket_a,
            "name": "李四",
            "id_number": valid_id_number("510104", "19920101", "222"),
            "phone": "13700000000",
        },
    )
    forged = _post(
        host_client(SICHUAN), "/api/v1/auth/wechat/register/", {"wechat_ticket": "x:y:z", **payload}
    )

    assert cross.status_code == 400 and cross.json()["code"] == "wechat_ticket_invalid"
    assert first.status_code == 201
    assert replay.status_code == 400 and replay.json()["code"] == "wechat_already_registered"
    assert forged.status_code == 400 and forged.json()["code"] == "wechat_ticket_invalid"
    with schema_context("sichuan"):
        assert list(User.objects.filter(kind=UserKind.PERSON).values_list("phone", flat=True)) == [
            "13912345678"
        ]
    with schema_context("sichuanb"):
        assert not User.objects.filter(kind=UserKind.PERSON).exists()


# --- profile ------------------------------------------------------------------------------------


def test_profile_shows_the_full_id_number_to_its_owner(tenant_a):
    id_number = valid_id_number("510104", "19850312", "123")
    _person("sichuan", id_number=id_number, email="zw@example.cn")
    token = _token(SICHUAN, "13812345678")

    response = _get(host_client(SICHUAN), "/api/v1/me/profile/", token)

    assert response.status_code == 200
    body = response.json()
    assert body["id_number"] == id_number and body["email"] == "zw@example.cn"
    assert body["locked_fields"] == [] and "education" in body["fields"]


def test_profile_patch_of_a_field_locked_after_enrolment_changes_nothing(
    tenant_a, django_capture_on_commit_callbacks
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    user = _person("sichuan", first_enrolled_at=timezone.now(), email="old@example.cn")
    token = _token(SICHUAN, "13812345678")
    with schema_context("sichuan"):
        audits_before = AuditEntry.objects.filter(action="profile.update").count()

    refused = _patch(
        host_client(SICHUAN),
        "/api/v1/me/profile/",
        {"name": "张伟伟", "gender": "female", "email": "new@example.cn"},
        token,
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "field_locked"
    assert refused.json()["detail"]["fields"] == ["name", "gender"]
    assert "姓名" in refused.json()["message"] and "性别" in refused.json()["message"]
    with schema_context("sichuan"):
        profile = PersonProfile.objects.get(user=user)
        assert (profile.name, profile.gender, profile.email) == ("张伟", "male", "old@example.cn")
        assert User.objects.get(pk=user.pk).name == "张伟"
        assert AuditEntry.objects.filter(action="profile.update").count() == audits_before
    same_name = _patch(
        host_client(SICHUAN), "/api/v1/me/profile/", {"name": "张伟", "email": "new@example.cn"}, token
    )
    assert same_name.status_code == 200  # an unchanged locked value is no change
    assert same_name.json()["email"] == "new@example.cn"
    assert same_name.json()["locked_fields"] == ["name", "gender", "id_number"]
    with schema_context("sichuan"):
        entry = AuditEntry.objects.filter(action="profile.update").latest("id")
        assert entry.data == {"fields": ["email"]}


def test_profile_patch_before_enrolment_changes_the_name_but_never_the_phone(
    tenant_a, django_capture_on_commit_callbacks
):
    _publish_miniapp_rules("sichuan", django_capture_on_commit_callbacks)
    user = _person("sichuan")
    token = _token(SICHUAN, "13812345678")

    renamed = _patch(
        host_client(SICHUAN), "/api/v1/me/profile/", {"name": "张大伟", "company_name": "某监理公司"}, token
    )
    phone = _patch(host_client(SICHUAN), "/api/v1/me/profile/", {"phone": "13900000000"}, token)

    assert renamed.status_code == 200 and renamed.json()["company_name"] == "某监理公司"
    assert phone.status_code == 400 and phone.json()["code"] == "phone_change_requires_sms"
    with schema_context("sichuan"):
        assert User.objects.get(pk=user.pk).name == "张大伟"
        assert PersonProfile.objects.get(user=user).phone == "13812345678"


def test_a_corrected_id_number_updates_the_account_and_the_birth_date(tenant_a):
    user = _person("sichuan")
    token = _token(SICHUAN, "13812345678")
    corrected = valid_id_number("510104", "19861120", "124")

    response = _patch(host_client(SICHUAN), "/api/v1/me/profile/", {"id_number": corrected.lower()}, token)

    assert response.status_code == 200, response.content
    assert response.json()["id_number"] == corrected and response.json()["birth_date"] == "1986-11-20"
    with schema_context("sichuan"):
        assert User.objects.get(pk=user.pk).id_number == corrected
        entry = AuditEntry.objects.filter(action="profile.update").latest("id")
        assert entry.data == {"fields": ["birth_date", "id_number"]}


# --- invoice titles and addresses ---------------------------------------------------------------

TITLE = {
    "title": "四川华建监理有限公司",
    "tax_number": "91510100mA6C12345x",
    "address_phone": "成都市武侯区某路1号 028-85550000",
    "bank_account": "中国银行成都分行 1234567890123456",
    "mailing_address": "成都市武侯区某路1号",
}


def test_invoice_titles_crud_and_another_persons_title_is_not_found(tenant_a, tenant_b):
    _person("sichuan")
    _person(
        "sichuan", phone="13700000000", name="李四", id_number=valid_id_number("510104", "19900101", "456")
    )
    _person("sichuanb")
    owner = _token(SICHUAN, "13812345678")
    other = _token(SICHUAN, "13700000000")
    twin = _token(SICHUANB, "13812345678")
    client = host_client(SICHUAN)

    created = _post(client, "/api/v1/me/invoice-titles/", {**TITLE, "is_default": True}, owner)
    second = _post(client, "/api/v1/me/invoice-titles/", {"title": "张伟", "is_default": True}, owner)
    title_id = created.json()["id"]
    listed = _get(client, "/api/v1/me/invoice-titles/", owner).json()
    patched = _patch(client, f"/api/v1/me/invoice-titles/{title_id}/", {"email": "fp@example.cn"}, owner)
    foreign = [
        _get(client, f"/api/v1/me/invoice-titles/{title_id}/", other),
        _patch(client, f"/api/v1/me/invoice-titles/{title_id}/", {"title": "改掉"}, other),
        _delete(client, f"/api/v1/me/invoice-titles/{title_id}/", other),
        _get(host_client(SICHUANB), f"/api/v1/me/invoice-titles/{title_id}/", twin),
    ]

    assert created.status_code == 201 and created.json()["tax_number"] == "91510100MA6C12345X"
    assert [(row["title"], row["is_default"]) for row in listed] == [
        ("张伟", True),
        ("四川华建监理有限公司", False),
    ]
    assert second.json()["is_default"] is True
    assert patched.status_code == 200 and patched.json()["email"] == "fp@example.cn"
    assert [response.status_code for response in foreign] == [404, 404, 404, 404]
    assert foreign[0].json()["code"] == "not_found"
    assert _get(client, "/api/v1/me/invoice-titles/", other).json() == []
    with schema_context("sichuan"):
        assert InvoiceTitle.objects.get(pk=title_id).title == "四川华建监理有限公司"

    deleted = _delete(client, f"/api/v1/me/invoice-titles/{title_id}/", owner)

    assert deleted.status_code == 204
    assert [row["title"] for row in _get(client, "/api/v1/me/invoice-titles/", owner).json()] == ["张伟"]


def test_an_invalid_tax_number_is_refused(tenant_a):
    _person("sichuan")
    token = _token(SICHUAN, "13812345678")

    response = _post(
        host_client(SICHUAN), "/api/v1/me/invoice-titles/", {**TITLE, "tax_number": "123"}, token
    )

    assert response.status_code == 400
    assert response.json()["code"] == "tax_number_invalid"
    assert response.json()["detail"] == {"field": "tax_number"}
    with schema_context("sichuan"):
        assert not InvoiceTitle.objects.exists()


def test_a_company_operator_sees_only_its_companys_titles(tenant_a):
    _company_operator("sichuan", company_name="四川华建监理有限公司", phone="13900001111")
    with schema_context("sichuan"):
        company = Company.objects.get(name="四川华建监理有限公司")
        User.objects.create_user(
            "13900002222",
            PASSWORD,
            name="另一位经办人",
            phone="13900002222",
            kind=UserKind.COMPANY,
            company=company,
        )
    _company_operator("sichuan", company_name="另一家监理公司", phone="13900003333")
    _person("sichuan")
    first_operator = _token(SICHUAN, "13900001111")
    colleague = _token(SICHUAN, "13900002222")
    other_company = _token(SICHUAN, "13900003333")
    person = _token(SICHUAN, "13812345678")
    client = host_client(SICHUAN)
    ours = _post(client, "/api/v1/me/invoice-titles/", TITLE, first_operator).json()
    _post(
        client,
        "/api/v1/me/invoice-titles/",
        {**TITLE, "title": "另一家监理公司", "tax_number": ""},
        other_company,
    )
    _post(client, "/api/v1/me/invoice-titles/", {"title": "张伟"}, person)

    seen_by_colleague = _get(client, "/api/v1/me/invoice-titles/", colleague).json()
    seen_by_other_company = _get(client, "/api/v1/me/invoice-titles/", other_company).json()
    seen_by_person = _get(client, "/api/v1/me/invoice-titles/", person).json()

    assert [row["title"] for row in seen_by_colleague] == ["四川华建监理有限公司"]
    assert [row["title"] for row in seen_by_other_company] == ["另一家监理公司"]
    assert [row["title"] for row in seen_by_person] == ["张伟"]
    assert _get(client, f"/api/v1/me/invoice-titles/{ours['id']}/", other_company).status_code == 404
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.get(pk=ours["id"])
        assert title.company == company and title.owner is None


def test_addresses_crud_and_another_persons_address_is_not_found(tenant_a):
    _person("sichuan")
    _person(
        "sichuan", phone="13700000000", name="李四", id_number=valid_id_number("510104", "19900101", "456")
    )
    owner = _token(SICHUAN, "13812345678")
    other = _token(SICHUAN, "13700000000")
    client = host_client(SICHUAN)
    address = {
        "recipient": "张伟",
        "phone": "13812345678",
        "province_city": "四川省成都市武侯区",
        "street": "某路1号",
        "postcode": "610041",
        "is_default": True,
    }

    created = _post(client, "/api/v1/me/addresses/", address, owner)
    address_id = created.json()["id"]
    bad_postcode = _post(client, "/api/v1/me/addresses/", {**address, "postcode": "6100"}, owner)
    patched = _patch(client, f"/api/v1/me/addresses/{address_id}/", {"street": "某路2号"}, owner)
    foreign = _patch(client, f"/api/v1/me/addresses/{address_id}/", {"street": "改掉"}, other)
    foreign_delete = _delete(client, f"/api/v1/me/addresses/{address_id}/", other)

    assert created.status_code == 201 and created.json()["is_default"] is True
    assert bad_postcode.status_code == 400
    assert patched.status_code == 200 and patched.json()["street"] == "某路2号"
    assert foreign.status_code == 404 and foreign_delete.status_code == 404
    with schema_context("sichuan"):
        assert MailingAddress.objects.get(pk=address_id).street == "某路2号"
    assert _delete(client, f"/api/v1/me/addresses/{address_id}/", owner).status_code == 204
    assert _get(client, "/api/v1/me/addresses/", owner).json() == []


def test_the_openapi_schema_documents_the_identity_errors(tenant_a):
    schema = host_client(SICHUAN).get("/api/schema/", {"format": "json"}).json()

    login = schema["paths"]["/api/v1/auth/token/"]["post"]
    titles = schema["paths"]["/api/v1/me/invoice-titles/{title_id}/"]["patch"]
    assert {"200", "400", "401", "403", "404", "429"} <= set(login["responses"])
    assert {"200", "400", "401", "403", "404"} <= set(titles["responses"])
    assert "/api/v1/auth/wechat/register/" in schema["paths"]

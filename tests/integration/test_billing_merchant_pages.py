"""商户设置 in the finance console: finance enters a channel's merchant credentials, stored encrypted and
never shown back; a secret left blank keeps the stored one; wrong keys and missing fields are refused with
nothing stored; every save is audited without values. The look-alike tenant sees none of sichuan's settings,
and staff without the finance role (or payers) are refused."""

import pytest
from django_tenants.utils import schema_context

from billing import merchant_settings as ms
from billing.models import MerchantAccount
from shared.models import AuditEntry
from tests.conftest import host_client, staff_client
from tests.factories import StaffFactory
from tests.integration.test_billing_orders import _company
from tests.integration.test_billing_providers import bare, private_pem, public_pem

pytestmark = pytest.mark.django_db
HOST = "sichuan.localhost"
URL = "/billing/finance/merchant/"
APIV3_KEY = "k3Yv3sichuanapiv3key000000000xyz"


def _v3_form(**changes) -> dict:
    data = {
        "kind": "wechat_v3",
        "appid": "wx_sichuan_app",
        "mchid": "1900006789",
        "cert_serial_no": "444F4864EA9B34415",
        "private_key_pem": private_pem("console-v3-merchant"),  # PKCS#1, as many merchant tools give it
        "apiv3_key": APIV3_KEY,
        "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
        "wechatpay_public_key_pem": public_pem("console-v3-platform"),
    }
    data.update(changes)
    return data


def _accounts(schema: str = "sichuan") -> dict:
    with schema_context(schema):
        return dict(MerchantAccount.objects.values_list("channel", "settings_encrypted"))


def _audits(schema: str = "sichuan") -> list:
    with schema_context(schema):
        return list(
            AuditEntry.objects.filter(action="merchant_settings.update")
            .order_by("pk")
            .values_list("data", flat=True)
        )


def test_finance_saves_wechat_v3_settings_encrypted_and_never_sees_the_secrets_again(tenant_a, tenant_b):
    finance = staff_client(HOST, "finance")

    listing = finance.get(URL)
    saved = finance.post(f"{URL}wechat_native/", _v3_form())
    page = finance.get(f"{URL}wechat_native/").content.decode()

    assert listing.status_code == 200 and listing.content.decode().count('class="merchant-row"') == 5
    assert (saved.status_code, saved["Location"]) == (302, URL)
    with schema_context("sichuan"):
        stored = ms.merchant_settings_load("wechat_native")
    assert isinstance(stored, ms.WechatV3Settings)
    assert (stored.appid, stored.mchid, stored.apiv3_key) == ("wx_sichuan_app", "1900006789", APIV3_KEY)
    assert stored.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # converted to PKCS#8
    encrypted = _accounts()["wechat_native"]
    assert APIV3_KEY not in encrypted and "1900006789" not in encrypted
    # The page shows the plain fields and only the state of the secrets.
    assert 'value="wx_sichuan_app"' in page and "已设置（尾号 0xyz）" in page and page.count("已设置") == 3
    for secret in (
        APIV3_KEY,
        bare(private_pem("console-v3-merchant"))[:40],
        bare(public_pem("console-v3-platform"))[:40],
    ):
        assert secret not in page
    [audit] = _audits()
    assert audit["channel"] == "wechat_native" and audit["kind"] == "wechat_v3"
    assert "apiv3_key" in audit["changed"] and APIV3_KEY not in str(audit)
    assert "微信支付 APIv3（微信支付公钥）" in finance.get(URL).content.decode()


def test_blank_secrets_keep_the_stored_ones_and_only_changes_are_audited(tenant_a):
    finance = staff_client(HOST, "finance")
    finance.post(f"{URL}wechat_native/", _v3_form())
    with schema_context("sichuan"):
        before = ms.merchant_settings_load("wechat_native")

    response = finance.post(
        f"{URL}wechat_native/",
        _v3_form(appid="wx_sichuan_new", private_key_pem="", apiv3_key="", wechatpay_public_key_pem=""),
    )

    assert response.status_code == 302
    with schema_context("sichuan"):
        after = ms.merchant_settings_load("wechat_native")
    assert after == before.model_copy(update={"appid": "wx_sichuan_new"})
    assert [audit["changed"] for audit in _audits()][1] == ["appid"]


@pytest.mark.parametrize(
    ("channel", "form", "messages"),
    [
        (
            "alipay_qr",
            {"kind": "alipay", "app_id": "", "app_private_key": "not a key", "alipay_public_key": "xyz"},
            ["应用 AppID：必填", "应用私钥：不是有效的 RSA 私钥", "支付宝公钥：不是有效的 RSA 公钥"],
        ),
        (
            "stripe",
            {"kind": "stripe", "secret_key": "pk_live_123", "webhook_secret": ""},
            ["Secret key：格式不正确", "Webhook signing secret：必填"],
        ),
        (
            "wechat_native",
            _v3_form(apiv3_key="short", wechatpay_public_key_pem=private_pem("console-v3-platform")),
            ["APIv3 密钥：长度应为 32 位", "微信支付公钥：不是有效的 RSA 公钥"],
        ),
        (
            "wechat_native",
            {
                "kind": "wechat_v2",
                "appid": "wx1",
                "mch_id": "1900000109",
                "api_key": "0123456789abcdef0123456789abcdef",
                "client_cert_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            },
            ["不是有效的证书（PEM）"],
        ),
        ("alipay_qr", {"kind": "stripe", "secret_key": "sk_test_1", "webhook_secret": "whsec_1"}, None),
    ],
    ids=[
        "alipay-keys",
        "stripe-format",
        "wechat-v3-lengths",
        "wechat-v2-certificate",
        "kind-not-for-channel",
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_stored(tenant_a, channel, form, messages):
    finance = staff_client(HOST, "finance")

    response = finance.post(f"{URL}{channel}/", form)

    page = response.content.decode()
    if messages is None:
        assert response.status_code == 404
    else:
        assert response.status_code == 400
        for message in messages:
            assert message in page
        for value in form.values():
            if len(value) > 20 and "BEGIN" in value:
                assert value not in page  # a refused key is not echoed either
    assert _accounts() == {} and _audits() == []


def test_the_look_alike_tenant_sees_none_of_sichuans_settings(tenant_a, tenant_b):
    staff_client(HOST, "finance").post(f"{URL}wechat_native/", _v3_form())

    theirs = staff_client("sichuanb.localhost", "finance")
    listing = theirs.get(URL).content.decode()
    edit = theirs.get(f"{URL}wechat_native/").content.decode()

    assert "微信支付 APIv3" not in listing and listing.count("未设置") == 5
    assert "wx_sichuan_app" not in edit and "已设置" not in edit
    assert _accounts("sichuanb") == {} and _audits("sichuanb") == []
    with schema_context("sichuanb"):
        assert ms.merchant_settings_load("wechat_native") is None
    assert set(_accounts()) == {"wechat_native"}


def test_staff_without_the_finance_role_and_payers_are_refused(tenant_a):
    with schema_context("sichuan"):
        StaffFactory(username="shenhe", staff_roles=["reviewer"])
        _, operator, _ = _company("成都监理", 0)
    reviewer = staff_client(HOST, "shenhe")
    payer = host_client(HOST)
    with schema_context("sichuan"):
        payer.force_login(operator)

    answers = [
        reviewer.get(URL).status_code,
        reviewer.post(f"{URL}wechat_native/", _v3_form()).status_code,
        payer.get(URL).status_code,
        payer.post(f"{URL}wechat_native/", _v3_form()).status_code,
    ]
    anonymous = host_client(HOST).post(f"{URL}wechat_native/", _v3_form())

    assert answers == [403, 403, 403, 403]
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert _accounts() == {} and _audits() == []
    assert staff_client(HOST, "admin").get(URL).status_code == 200  # admins hold every role

"""Onboarding associations: all or nothing, refused duplicates, the command and the operator form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from shared.accounts.models import Invitation, User, UserKind
from shared.models import AuditEntry
from tenant_configs.models import RulesVersion
from tenants.models import Association, Domain
from tenants.services import TenantError, tenant_onboard
from tests.conftest import CONFIGS, host_client

pytestmark = pytest.mark.django_db


def _rules(slug: str, name: str = "新疆维吾尔自治区建设监理协会", source: str = "sichuan.toml"):
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(CONFIGS / source))
    data["association"].update(slug=slug, name=name)
    return load_rules_data(data, source="test")


def _counts():
    return Association.objects.count(), Domain.objects.count()


def test_onboarding_creates_schema_domain_rules_and_admin_invitation(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = tenant_onboard(rules=_rules("xinjiang"), admin_name="王敏")

    assert schema_exists("xinjiang")
    assert result.domain.domain == "xinjiang.localhost"
    assert result.rules_version == 1
    with schema_context("xinjiang"):
        assert RulesVersion.objects.get().number == 1
        invitation = Invitation.objects.get()
        assert invitation.name == "王敏" and invitation.staff_roles == ["admin"]
        assert invitation.token_sha256 != result.invitation.token  # only the hash is stored
        assert User.objects.count() == 0
    assert AuditEntry.objects.filter(action="tenant.onboard", object_id=str(result.tenant.pk)).exists()
    assert host_client("xinjiang.localhost").get("/ping").json()["association"] == "xinjiang"


def test_invited_admin_sets_a_password_and_reaches_the_console(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = tenant_onboard(rules=_rules("xizang", "西藏自治区建设监理协会"))
    client = host_client("xizang.localhost")

    page = client.get(f"/invite/{result.invitation.token}/")
    done = client.post(
        f"/invite/{result.invitation.token}/",
        {"username": "zhaxi", "name": "扎西", "password": "Gaoyuan-2026", "password_again": "Gaoyuan-2026"},
    )

    assert page.status_code == 200 and "设置账户" in page.content.decode()
    assert done.status_code == 302 and done["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    with schema_context("xizang"):
        admin = User.objects.get(username="zhaxi")
        assert admin.kind == UserKind.STAFF and admin.staff_roles == ["admin"]
    again = host_client("xizang.localhost").get(f"/invite/{result.invitation.token}/")
    assert again.status_code == 404  # one use only


def test_invitation_token_of_one_tenant_is_unknown_on_another(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = tenant_onboard(rules=_rules("qinghai", "青海省建设监理协会"))

    assert host_client("sichuan.localhost").get(f"/invite/{result.invitation.token}/").status_code == 404


@pytest.mark.parametrize(
    ("slug", "hostname", "code"),
    [
        ("sichuan", None, "slug_taken"),
        ("SICHUANB".lower(), None, "slug_taken"),
        ("ningxia", "sichuan.localhost", "domain_taken"),
        ("ningxia", "GANSU.localhost", "domain_taken"),
        ("public", None, "slug_invalid"),
        ("tenant_template", None, "slug_invalid"),
        ("ningxia", "not a host", "domain_invalid"),
    ],
)
def test_onboarding_refuses_existing_or_bad_slug_and_domain(slug, hostname, code):
    before = _counts()

    with pytest.raises(TenantError) as error:
        tenant_onboard(rules=_rules(slug), hostname=hostname)

    assert error.value.code == code
    assert _counts() == before
    assert not schema_exists("ningxia")


def test_onboarding_without_slug_is_refused():
    from tenant_configs.loader import load_rules_data

    with pytest.raises(TenantError) as error:
        tenant_onboard(rules=load_rules_data({}, source="empty"))

    assert error.value.code == "slug_missing"


def test_a_failure_midway_leaves_no_schema_tenant_or_domain(monkeypatch):
    import tenants.services

    def broken_invitation(**kwargs):
        raise RuntimeError("mail server down")

    monkeypatch.setattr(tenants.services, "invitation_create", broken_invitation)
    before = _counts()

    with pytest.raises(RuntimeError):
        tenant_onboard(rules=_rules("hainan", "海南省建设监理协会"))

    assert _counts() == before
    assert not schema_exists("hainan")
    assert not AuditEntry.objects.filter(action="tenant.onboard", data__slug="hainan").exists()


def test_onboard_command_creates_the_tenant_from_a_rules_file(tmp_path, capsys):
    from tenant_configs.loader import rules_to_toml

    path = tmp_path / "guangxi.toml"
    path.write_text(rules_to_toml(_rules("guangxi", "广西壮族自治区建设监理协会")), encoding="utf-8")

    call_command("tenant_onboard", str(path), "--domain", "gx.example.test")

    output = capsys.readouterr().out
    assert "onboarded guangxi" in output
    assert "http://gx.example.test/invite/" in output
    assert Domain.objects.get(domain="gx.example.test").tenant.slug == "guangxi"


def test_onboard_command_refuses_a_bad_rules_file_and_creates_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[association]\nslug = "yunnan"\nnmae = "云南"\n', encoding="utf-8")
    before = _counts()

    with pytest.raises(CommandError) as error:
        call_command("tenant_onboard", str(path))

    assert "bad.toml" in str(error.value) and "association.nmae" in str(error.value)
    assert _counts() == before
    assert not schema_exists("yunnan")


def test_onboard_command_refuses_an_existing_slug(tmp_path):
    from tenant_configs.loader import rules_to_toml

    path = tmp_path / "again.toml"
    path.write_text(rules_to_toml(_rules("gansu", "甘肃")), encoding="utf-8")

    with pytest.raises(CommandError, match="slug_taken"):
        call_command("tenant_onboard", str(path))


def test_operator_onboards_from_an_uploaded_rules_file(operator_client):
    from tenant_configs.loader import rules_to_toml

    upload = SimpleUploadedFile(
        "guizhou.toml", rules_to_toml(_rules("guizhou", "贵州省建设监理协会")).encode()
    )

    response = operator_client.post("/tenants/new/", {"rules_file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "已开通：贵州省建设监理协会" in page
    assert "http://guizhou.localhost/invite/" in page
    assert schema_exists("guizhou")


def test_operator_onboards_by_cloning_another_tenants_rules(operator_client):
    response = operator_client.post(
        "/tenants/new/", {"clone_from": "gansu", "slug": "neimenggu", "name": "内蒙古自治区建设监理协会"}
    )

    assert response.status_code == 200
    with schema_context("gansu"):
        source = RulesVersion.objects.order_by("-number").first().payload
    with schema_context("neimenggu"):
        cloned = RulesVersion.objects.get().payload
    assert cloned["association"]["name"] == "内蒙古自治区建设监理协会"
    assert {k: v for k, v in cloned.items() if k != "association"} == {
        k: v for k, v in source.items() if k != "association"
    }


def test_operator_form_reports_rule_problems_and_creates_nothing(operator_client):
    upload = SimpleUploadedFile("typo.toml", b'[association]\nslug = "anhui"\n[billing]\npayer = 3\n')
    before = _counts()

    response = operator_client.post("/tenants/new/", {"rules_file": upload})

    page = response.content.decode()
    assert "规则文件有误" in page and "billing.payer" in page
    assert _counts() == before


@pytest.mark.parametrize("data", [{}, {"clone_from": "gansu"}])
def test_operator_form_needs_exactly_one_source_and_a_slug_when_cloning(operator_client, data):
    before = _counts()

    response = operator_client.post("/tenants/new/", data)

    assert response.status_code == 200
    assert _counts() == before


def test_operator_suspends_and_resumes_from_the_console(operator_client, tenant_gansu):
    operator_client.post("/tenants/gansu/suspend/", {"reason": "合同到期"})
    assert Association.objects.get(slug="gansu").suspended_reason == "合同到期"

    operator_client.post("/tenants/gansu/resume/")
    assert Association.objects.get(slug="gansu").status == "active"


def test_tenant_staff_cannot_use_the_operator_console(tenant_a):
    from tests.conftest import staff_client

    # Association staff exist only in their own schema; the public host does not know them.
    client = host_client("localhost")
    assert client.post("/login/", {"username": "admin", "password": "Test-pass-2026"}).status_code == 200
    assert staff_client("sichuan.localhost").get("/tenants/new/").status_code == 404

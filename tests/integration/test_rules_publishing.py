"""Rules versions: publishing, the admin's section editor with a diff, history, caching, the API."""

import pytest
from django_tenants.utils import schema_context

from shared.models import AuditEntry
from tenant_configs.models import RulesVersion
from tenant_configs.selectors import rules_current
from tenant_configs.services import RulesPublishError, rules_publish
from tests.conftest import host_client, staff_client
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

BRANDING = '[branding]\nsite_title = "四川监理培训报名"\nprimary_color = "#0a7d50"\n'


def _versions(schema: str) -> list[int]:
    with schema_context(schema):
        return list(RulesVersion.objects.order_by("number").values_list("number", flat=True))


def test_each_tenant_reads_its_own_rules(tenant_a, tenant_b):
    with schema_context("sichuan"):
        name_a = rules_current().association.name
    with schema_context("sichuanb"):
        name_b = rules_current().association.name

    assert name_a == tenant_a.name
    assert name_b == "四川省另一监理协会"


def test_publishing_the_same_rules_again_is_a_no_op(tenant_a):
    with schema_context("sichuan"):
        before = RulesVersion.objects.count()
        version = rules_publish(rules=rules_current(), actor=None)
        assert RulesVersion.objects.count() == before
        assert version.number == before


def test_rules_naming_another_association_are_refused(tenant_a):
    with schema_context("sichuanb"):
        twin_rules = rules_current()
    with schema_context("sichuan"), pytest.raises(RulesPublishError):
        rules_publish(rules=twin_rules, actor=None)

    assert _versions("sichuan") == [1]


def test_admin_previews_the_diff_then_publishes_a_new_version(tenant_a, django_capture_on_commit_callbacks):
    client = staff_client("sichuan.localhost")

    preview = client.post("/console/rules/branding/", {"toml": BRANDING, "action": "preview"})
    assert _versions("sichuan") == [1]
    assert "branding.site_title" in preview.content.decode()
    assert "四川监理培训报名" in preview.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        published = client.post(
            "/console/rules/branding/", {"toml": BRANDING, "action": "publish", "comment": "改名"}
        )

    assert published.status_code == 302
    assert _versions("sichuan") == [1, 2]
    assert _versions("sichuanb") == [1]
    with schema_context("sichuan"):
        assert rules_current().branding.site_title == "四川监理培训报名"
        entry = AuditEntry.objects.filter(action="rules.publish").order_by("-id").first()
        assert entry.actor.username == "admin"
        changes = {change["path"]: (change["old"], change["new"]) for change in entry.data["changes"]}
        assert changes["branding.site_title"] == ("报名系统", "四川监理培训报名")
        assert changes["branding.primary_color"][1] == "#0a7d50"
        assert RulesVersion.objects.get(number=2).published_by_label == "admin"
    assert "四川监理培训报名" in host_client("sichuan.localhost").get("/").content.decode()
    history = client.get("/console/rules/").content.decode()
    assert "第 2 版" in history and "改名" in history
    assert client.get("/console/rules/versions/2/").status_code == 200


@pytest.mark.parametrize(
    ("text", "expected_path"),
    [
        ('[branding]\nprimary_colour = "#000000"\n', "branding.primary_colour"),
        ("[branding]\nprimary_color = 12\n", "branding.primary_color"),
        ("[branding\n", "branding"),
        ('[billing]\npayer = "company"\n', "billing"),
    ],
)
def test_a_bad_section_is_refused_with_the_key_path_and_nothing_is_published(tenant_a, text, expected_path):
    client = staff_client("sichuan.localhost")

    response = client.post("/console/rules/branding/", {"toml": text, "action": "publish"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "规则有误，未发布" in page and expected_path in page
    assert _versions("sichuan") == [1]


def test_changing_the_association_slug_is_refused(tenant_a):
    client = staff_client("sichuan.localhost")
    current = client.get("/console/rules/association/").content.decode()
    assert "slug = &quot;sichuan&quot;" in current

    response = client.post(
        "/console/rules/association/",
        {"toml": '[association]\nslug = "henan"\nname = "x"\n', "action": "publish"},
    )

    assert "association.slug" in response.content.decode()
    assert _versions("sichuan") == [1]


@pytest.mark.parametrize("roles", [["finance"], ["reviewer", "academic"]])
def test_staff_without_the_admin_role_cannot_see_or_change_rules(tenant_a, roles):
    with schema_context("sichuan"):
        StaffFactory(username="clerk", staff_roles=roles)
    client = staff_client("sichuan.localhost", username="clerk")

    assert client.get("/console/").status_code == 200
    assert client.get("/console/rules/").status_code == 403
    assert client.post("/console/rules/branding/", {"toml": BRANDING, "action": "publish"}).status_code == 403
    assert _versions("sichuan") == [1]


def test_unknown_section_is_404(tenant_a):
    assert staff_client("sichuan.localhost").get("/console/rules/nosuch/").status_code == 404


def test_api_association_info_is_public_and_per_host(tenant_a, tenant_b):
    info_a = host_client("sichuan.localhost").get("/api/v1/association/").json()
    info_b = host_client("sichuanb.localhost").get("/api/v1/association/").json()

    assert info_a["slug"] == "sichuan" and info_a["rules_version"] == 1
    assert info_b["name"] == "四川省另一监理协会"


def test_api_rules_need_an_admin_and_errors_carry_a_code(tenant_a):
    anonymous = host_client("sichuan.localhost").get("/api/v1/rules/current/")
    finance = staff_client("sichuan.localhost", "finance").get("/api/v1/rules/current/")
    admin = staff_client("sichuan.localhost").get("/api/v1/rules/current/")

    assert anonymous.status_code == 403 and anonymous.json()["code"] == "not_authenticated"
    assert finance.status_code == 403 and finance.json()["code"] == "permission_denied"
    assert admin.status_code == 200
    assert admin.json()["number"] == 1 and admin.json()["rules"]["association"]["slug"] == "sichuan"


def test_openapi_schema_and_docs_load_no_cdn_asset(tenant_a):
    client = host_client("sichuan.localhost")

    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/").content.decode()

    assert schema.status_code == 200 and b"/api/v1/association/" in schema.content
    assert "cdn" not in docs.lower() and "https://" not in docs
    assert "/static/drf_spectacular_sidecar/" in docs


def test_a_published_version_can_be_neither_changed_nor_deleted(tenant_a):
    from tenant_configs.models import RulesVersionImmutable

    with schema_context("sichuan"):
        version = RulesVersion.objects.get(number=1)
        version.comment = "篡改"
        with pytest.raises(RulesVersionImmutable):
            version.save()
        with pytest.raises(RulesVersionImmutable):
            version.delete()
        assert RulesVersion.objects.get(number=1).comment != "篡改"

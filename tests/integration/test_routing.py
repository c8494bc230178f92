"""Host -> tenant routing: each association on its own host, unknown hosts, suspension, caching."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenants.models import Association, AssociationStatus, Domain
from tenants.services import TenantError, domain_add, domain_remove, tenant_resume, tenant_suspend
from tests.conftest import host_client, staff_client

pytestmark = pytest.mark.django_db


def test_each_tenant_host_serves_its_own_association(tenant_a, client_a, client_b):
    page_a = client_a.get("/").content.decode()
    page_b = client_b.get("/").content.decode()

    assert tenant_a.name in page_a
    assert "四川省另一监理协会" in page_b
    assert "四川省另一监理协会" not in page_a


def test_ping_names_the_tenant_of_the_host(client_a, client_b):
    assert client_a.get("/ping").json() == {"association": "sichuan", "ok": True}
    assert client_b.get("/ping").json() == {"association": "sichuanb", "ok": True}


def test_unknown_host_gets_a_plain_404_page():
    response = host_client("nosuch.localhost").get("/")

    assert response.status_code == 404
    assert "未找到该站点" in response.content.decode()
    assert "nosuch.localhost" in response.content.decode()


def test_template_schema_is_never_served():
    template = Association.objects.get(status=AssociationStatus.TEMPLATE)
    Domain.objects.create(domain="template.localhost", tenant=template, is_primary=True)

    assert host_client("template.localhost").get("/").status_code == 404


def test_public_host_serves_the_operator_console(operator_client):
    anonymous = host_client("localhost").get("/")
    dashboard = operator_client.get("/")

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert dashboard.status_code == 200
    assert "协会总览" in dashboard.content.decode()
    assert "sichuanb" in dashboard.content.decode()


def test_health_endpoints_answer_on_any_host():
    assert host_client("nosuch.example").get("/healthz").content == b"ok"
    assert host_client("nosuch.example").get("/readyz").status_code == 200


def test_suspended_tenant_answers_503_naming_the_association(
    tenant_a, client_a, client_b, django_capture_on_commit_callbacks
):
    client_a.get("/")  # warm the routing cache: suspension must invalidate it
    with django_capture_on_commit_callbacks(execute=True):
        tenant_suspend(tenant=tenant_a, actor=None, reason="欠费")

    suspended = client_a.get("/console/")
    assert suspended.status_code == 503
    assert tenant_a.name in suspended.content.decode()
    assert "暂停服务" in suspended.content.decode()
    assert client_b.get("/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        tenant_resume(tenant=tenant_a, actor=None)
    assert client_a.get("/").status_code == 200


def test_suspending_twice_is_a_no_op(tenant_a):
    first = tenant_suspend(tenant=tenant_a, actor=None, reason="一")
    second = tenant_suspend(tenant=tenant_a, actor=None, reason="二")

    assert second.suspended_at == first.suspended_at
    assert second.suspended_reason == "一"


def test_routing_is_cached_after_the_first_request(client_a):
    client_a.get("/ping")
    with CaptureQueriesContext(connection) as queries:
        client_a.get("/ping")

    assert not [q for q in queries.captured_queries if "tenants_domain" in q["sql"]]


def test_adding_a_domain_routes_it_at_once(tenant_a, django_capture_on_commit_callbacks):
    assert host_client("peixun.sichuan.test").get("/").status_code == 404  # cached negative answer

    with django_capture_on_commit_callbacks(execute=True):
        domain_add(tenant=tenant_a, hostname="PeiXun.Sichuan.Test", actor=None)

    assert host_client("peixun.sichuan.test").get("/ping").json()["association"] == "sichuan"


def test_removing_a_domain_stops_routing_it(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        domain_add(tenant=tenant_a, hostname="old.sichuan.test", actor=None)
    assert host_client("old.sichuan.test").get("/ping").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        domain_remove(tenant=tenant_a, hostname="old.sichuan.test", actor=None)

    assert host_client("old.sichuan.test").get("/ping").status_code == 404


@pytest.mark.parametrize("hostname", ["sichuanb.localhost", "bad host", "", "a" * 300])
def test_domain_add_refuses_taken_or_malformed_hosts(tenant_a, hostname):
    before = Domain.objects.count()

    with pytest.raises(TenantError) as error:
        domain_add(tenant=tenant_a, hostname=hostname, actor=None)

    assert error.value.code in {"domain_taken", "domain_invalid"}
    assert Domain.objects.count() == before


def test_a_session_of_one_tenant_is_worthless_on_another(tenant_a, tenant_b):
    signed_in = staff_client("sichuan.localhost")
    assert signed_in.get("/console/").status_code == 200

    other = host_client("sichuanb.localhost")
    other.cookies = signed_in.cookies  # the same cookie jar sent to the twin association

    response = other.get("/console/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_session_cookie_is_host_only(tenant_a):
    client = staff_client("sichuan.localhost")

    cookie = client.cookies["sessionid"]
    assert cookie["domain"] == ""
    assert cookie["httponly"] is True


def test_staff_of_one_tenant_cannot_log_in_to_the_twin_with_the_twin_password_changed(tenant_b):
    from shared.accounts.models import User

    with schema_context("sichuanb"):
        admin_b = User.objects.get(username="admin")
        admin_b.set_password("another-Password-1")
        admin_b.save(update_fields=["password"])

    response = host_client("sichuanb.localhost").post(
        "/login/", {"username": "admin", "password": "Test-pass-2026"}
    )

    assert response.status_code == 200  # the form again: sichuan's password means nothing here
    assert staff_client("sichuan.localhost").get("/console/").status_code == 200


def test_a_change_made_by_another_process_is_seen_after_the_generation_check(tenant_a, monkeypatch):
    from django.core.cache import cache

    from tenants import selectors

    client = host_client("sichuan.localhost")
    assert client.get("/ping").status_code == 200  # memoised in this process
    # Another web process suspends the association: the database and the shared cache change,
    # this process's memo does not.
    Association.objects.filter(pk=tenant_a.pk).update(status=AssociationStatus.SUSPENDED)
    with schema_context("public"):
        cache.delete("tenants:host:sichuan.localhost")
        cache.set(selectors._GENERATION_KEY, 99, None)

    assert client.get("/ping").status_code == 200  # within the check interval
    monkeypatch.setattr(selectors._local, "checked_at", 0.0)  # the interval has passed
    assert client.get("/ping").status_code == 503


def test_unknown_host_flood_does_not_grow_the_memo_without_bound(monkeypatch):
    from tenants import selectors

    monkeypatch.setattr(selectors, "LOCAL_ENTRIES_MAX", 5)
    for number in range(12):
        host_client(f"random{number}.localhost").get("/")

    assert len(selectors._local.entries) <= 5


def test_english_is_the_second_language(tenant_a):
    english = host_client("sichuan.localhost").get("/login/", headers={"accept-language": "en"})
    chinese = host_client("sichuan.localhost").get("/login/", headers={"accept-language": "zh-CN"})

    assert "<h1>Log in</h1>" in english.content.decode()
    assert "<h1>登录</h1>" in chinese.content.decode()

"""Test harness: tenants created once per test database, host-bound clients, a browser on live tenants.

Tenants (created once, reused with --reuse-db; never migrated per test):
- tenant_a: `sichuan`, from tenant_configs/sichuan.toml, host sichuan.localhost
- tenant_b: `sichuanb`, a look-alike of sichuan (same rules, same demo usernames) on sichuanb.localhost,
  so a query that forgets the tenant finds the twin's rows and fails the test.
- gansu, shanghai, henan, miniapp: from their tenant_configs/*.toml, for tests of those associations' rules.
Each test runs in a transaction that is rolled back, across all schemas (one connection).
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django_tenants.utils import get_public_schema_name, schema_context

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "tenant_configs"
PASSWORD = "Test-pass-2026"


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    config: str
    name: str | None = None


TENANT_SPECS = [
    TenantSpec("sichuan", "sichuan.toml"),
    TenantSpec("sichuanb", "sichuan.toml", name="四川省另一监理协会"),
    TenantSpec("gansu", "gansu.toml"),
    TenantSpec("shanghai", "shanghai.toml"),
    TenantSpec("henan", "henan.toml"),
    TenantSpec("miniapp", "miniapp.toml"),
]


def _rules_for(spec: TenantSpec):
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(CONFIGS / spec.config))
    data["association"]["slug"] = spec.slug
    if spec.name:
        data["association"]["name"] = spec.name
    return load_rules_data(data, source=f"{spec.config} as {spec.slug}")


def _ensure_tenants() -> None:
    from shared.accounts.models import StaffRole, User, UserKind
    from shared.accounts.services import user_create
    from tenants.models import Association
    from tenants.services import platform_bootstrap, tenant_onboard

    connection.set_schema_to_public()
    platform_bootstrap()
    with schema_context(get_public_schema_name()):
        if not User.objects.filter(username="operator").exists():
            user_create(username="operator", password=PASSWORD, kind=UserKind.OPERATOR, name="运营")
    for spec in TENANT_SPECS:
        tenant = (
            Association.objects.filter(slug=spec.slug).first()
            or tenant_onboard(rules=_rules_for(spec)).tenant
        )
        with schema_context(tenant.schema_name):
            # Look-alike data: the same usernames in every tenant.
            for username, roles in (("admin", [StaffRole.ADMIN]), ("finance", [StaffRole.FINANCE])):
                if not User.objects.filter(username=username).exists():
                    user_create(
                        username=username,
                        password=PASSWORD,
                        kind=UserKind.STAFF,
                        name=username,
                        staff_roles=roles,
                    )
    connection.set_schema_to_public()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, request):
    with django_db_blocker.unblock():
        if not connection.settings_dict["NAME"].startswith("test_"):
            # Only browser tests were selected: they use no `db` fixture (their data must be committed
            # for the live server's connection), so pytest-django set up no database. Do it here.
            from django.test.utils import setup_databases

            keepdb = request.config.getvalue("reuse_db") and not request.config.getvalue("create_db")
            setup_databases(verbosity=0, interactive=False, keepdb=bool(keepdb))
        assert connection.settings_dict["NAME"].startswith("test_"), (
            "tests must never touch the real database"
        )
        _ensure_tenants()
    yield


@pytest.fixture(autouse=True)
def _fresh_cache_and_schema():
    """Routing and rules caches must not carry answers from a rolled-back test."""
    from tenant_configs.selectors import _parsed
    from tenants.selectors import _local

    def forget():
        cache.clear()
        _parsed.cache_clear()
        _local.forget_all()

    forget()
    yield
    connection.set_schema_to_public()
    forget()


def _tenant(slug: str):
    from tenants.models import Association

    with schema_context(get_public_schema_name()):
        return Association.objects.get(slug=slug)


@pytest.fixture
def tenant_a(db):
    return _tenant("sichuan")


@pytest.fixture
def tenant_b(db):
    return _tenant("sichuanb")


@pytest.fixture
def tenant_gansu(db):
    return _tenant("gansu")


def host_client(hostname: str) -> Client:
    return Client(HTTP_HOST=hostname)


@pytest.fixture
def client_a(tenant_a) -> Client:
    return host_client("sichuan.localhost")


@pytest.fixture
def client_b(tenant_b) -> Client:
    return host_client("sichuanb.localhost")


@pytest.fixture
def operator_client(db) -> Client:
    client = host_client("localhost")
    response = client.post("/login/", {"username": "operator", "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def staff_client(hostname: str, username: str = "admin") -> Client:
    client = host_client(hostname)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


# --- browser ------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 800},
    }


@pytest.fixture(scope="session")
def live_port(django_db_setup, django_db_blocker):
    """A live server on 127.0.0.1 for the whole session, reached as <tenant>.localhost:<port>.

    Browser tests commit what they create (the server runs in another thread and connection), so
    they use names no other test uses and run after all other tests (see pytest_collection_modifyitems).
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    with django_db_blocker.unblock():
        thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        thread.daemon = True
        thread.start()
        thread.is_ready.wait()
        if thread.error:
            raise thread.error
        yield thread.port
        thread.terminate()


@pytest.fixture
def live_url(live_port, django_db_blocker):
    django_db_blocker.unblock()
    try:
        yield lambda host, path="/": f"http://{host}:{live_port}{path}"
    finally:
        django_db_blocker.restore()


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def celery_worker_thread(django_db_setup, django_db_blocker):
    """A Celery worker thread in this process on the configured broker (Redis, or without it the filesystem
    broker of `make run`, emptied first so only this test's tasks are there), committing to the test
    database: tasks sent after commit by services or the live server really run, in their tenant."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings as django_settings

    from shared.celery import app

    if str(app.conf.broker_url).startswith("filesystem"):
        for leftover in (django_settings.CELERY_BROKER_DIR / "queue").glob("*"):
            leftover.unlink(missing_ok=True)
    with django_db_blocker.unblock():
        with start_worker(
            app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=10
        ):
            yield

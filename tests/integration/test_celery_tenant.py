"""A Celery task runs in the schema of the tenant that scheduled it, through a real worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django_tenants.utils import schema_context

from shared.celery import app
from tenants.models import TenantUsageSnapshot
from tenants.tasks import usage_collect_current_tenant


@pytest.fixture
def worker(django_db_setup, django_db_blocker, settings):
    """A worker thread on the configured broker (Redis when present), committing to the test database."""
    original = app.conf.broker_url
    if not str(original).startswith("redis"):
        app.conf.broker_url = "memory://"
    with django_db_blocker.unblock():
        with start_worker(
            app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=10
        ):
            yield
        TenantUsageSnapshot.objects.all().delete()  # the worker committed them
    app.conf.broker_url = original


def test_task_runs_in_the_schema_that_scheduled_it(worker):
    for schema in ("sichuan", "sichuanb"):
        with schema_context(schema):
            usage_collect_current_tenant.delay()

    connection.set_schema_to_public()
    snapshots = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(snapshots) < 2:
        snapshots = {s.tenant.slug: s for s in TenantUsageSnapshot.objects.select_related("tenant")}
        time.sleep(0.2)

    assert set(snapshots) == {"sichuan", "sichuanb"}
    assert snapshots["sichuan"].schema_name == "sichuan"
    assert snapshots["sichuanb"].schema_name == "sichuanb"
    assert snapshots["sichuan"].figures["users_by_kind"] == {"staff": 2}

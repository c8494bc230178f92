"""A Celery task runs in the schema of the tenant that scheduled it, through a real worker."""

import time

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import TenantUsageSnapshot
from tenants.tasks import usage_collect_current_tenant


@pytest.fixture
def worker(celery_worker_thread, django_db_blocker):
    yield
    with django_db_blocker.unblock():
        TenantUsageSnapshot.objects.all().delete()  # the worker committed them


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

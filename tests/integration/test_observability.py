"""JSON logs carry the tenant; Sentry starts only with SENTRY_DSN and tags events with the tenant."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared.logging import TenantFilter
from tests.conftest import ROOT, host_client

pytestmark = pytest.mark.django_db


def test_log_lines_are_json_with_the_tenant_schema(tenant_a):
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    config = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(config["fmt"], rename_fields=config["rename_fields"], json_ensure_ascii=False)
    record = logging.LogRecord("registration", logging.INFO, __file__, 1, "报名已提交", None, None)
    with schema_context("sichuan"):
        TenantFilter().filter(record)

    line = json.loads(formatter.format(record))
    assert line["tenant"] == "sichuan"
    assert line["message"] == "报名已提交" and line["level"] == "INFO" and line["logger"] == "registration"


def _sentry_active(dsn: str | None) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shared.settings"}
    env.pop("SENTRY_DSN", None)
    if dsn:
        env["SENTRY_DSN"] = dsn
    code = "import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_sentry_is_initialised_only_when_a_dsn_is_set():
    assert _sentry_active(None) == "False"
    assert _sentry_active("http://public@127.0.0.1:9/1") == "True"


def test_requests_tag_error_reports_with_the_tenant(tenant_a, monkeypatch):
    import sentry_sdk

    tags = {}
    monkeypatch.setattr(sentry_sdk, "set_tag", lambda key, value: tags.__setitem__(key, value))

    host_client("sichuan.localhost").get("/ping")

    assert tags == {"tenant": "sichuan"}
    connection.set_schema_to_public()

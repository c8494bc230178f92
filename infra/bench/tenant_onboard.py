"""tenant_onboard: seconds to onboard one association (clone of the template schema, domain, rules v1,
admin invitation) against creating the same schema by running every migration. Goal: ratio <= 0.5.

Both are repeated and alternate; the median of each counts. Every schema made here is dropped.
"""

import statistics
import time
import uuid

from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_exists

REPEATS = 5


def _rules(slug: str):
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data

    data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "henan.toml"))
    data["association"]["slug"] = slug
    return load_rules_data(data, source="bench")


def _drop(slug: str) -> None:
    from tenants.models import Association

    connection.set_schema_to_public()
    tenant = Association.objects.filter(slug=slug).first()
    if tenant is not None:
        tenant.delete(force_drop=True)


def _onboard_once() -> float:
    from tenants.services import tenant_onboard

    slug = f"bench_{uuid.uuid4().hex[:8]}"
    rules = _rules(slug)
    started = time.perf_counter()
    result = tenant_onboard(rules=rules)
    elapsed = time.perf_counter() - started
    if not schema_exists(slug) or result.rules_version != 1:
        raise AssertionError("onboarding did not create the schema and rules v1")
    _drop(slug)
    return elapsed


def _migrate_once() -> float:
    from tenants.models import Association

    slug = f"bench_{uuid.uuid4().hex[:8]}"
    connection.set_schema_to_public()
    started = time.perf_counter()
    with override_settings(TENANT_CREATION_FAKES_MIGRATIONS=False):
        Association(schema_name=slug, slug=slug, name=slug).save(verbosity=0)
    elapsed = time.perf_counter() - started
    if not schema_exists(slug):
        raise AssertionError("migrate did not create the schema")
    _drop(slug)
    return elapsed


def run(report) -> None:
    _onboard_once()  # warm-up: installs the clone function and loads the migration graph
    onboard, migrate = [], []
    for _ in range(REPEATS):
        onboard.append(_onboard_once())
        migrate.append(_migrate_once())
    report(
        name="tenant_onboard",
        value=statistics.median(onboard),
        unit="s",
        baseline=statistics.median(migrate),
        goal="<= 0.5",
        samples={"onboard": [round(x, 3) for x in onboard], "migrate": [round(x, 3) for x in migrate]},
    )

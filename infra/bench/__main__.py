"""Run the benchmarks against a dedicated database (<name>_bench) on the configured PostgreSQL.

python -m infra.bench               # all
python -m infra.bench tenant_routing
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCHMARKS = [
    "tenant_routing",
    "tenant_onboard",
    "roster_import_10k",
    "photo_zip_1000",
    "enrol_rush",
    "enrol_spread",
    "notify_burst",
    "cert_batch_1000",
]
RESULTS = Path(__file__).resolve().parents[2] / "var" / "bench-results.jsonl"


def _use_bench_database() -> None:
    """Point DATABASE_URL at a separate database so benchmarks never touch dev or test data."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = (parts.path.lstrip("/") or "xiehui") + "_bench"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))


def _prepare() -> None:
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shared.settings")
    os.environ.setdefault("TESTING", "1")
    django.setup()
    call_command("migrate_schemas", "--shared", verbosity=0)
    call_command("migrate_schemas", "--tenant", verbosity=0)
    from tenants.services import platform_bootstrap

    platform_bootstrap()


def report(*, name: str, value: float, unit: str, baseline: float, goal: str, **extra) -> dict:
    ratio = value / baseline if baseline else None
    row = {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": round(baseline, 4),
        "ratio": round(ratio, 4) if ratio is not None else None,
        "goal": goal,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(json.dumps(row, ensure_ascii=False) + "\n")
    return row


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    _use_bench_database()
    _prepare()
    for name in names:
        module = importlib.import_module(f"infra.bench.{name}")
        module.run(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

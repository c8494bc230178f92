"""Local development runner behind `make run`, `make test` and `make bench`.

    python -m infra.dev run                 # migrate, demo data, web + worker + beat; Ctrl-C stops all
    python -m infra.dev exec [--probe-local] -- CMD ...   # run CMD with DATABASE_URL (and REDIS_URL) set

Database choice: DATABASE_URL if set; with --probe-local, PostgreSQL on 127.0.0.1:5432 if it
answers; otherwise the embedded server of the `pgserver` wheel, kept under var/pgdata (git-ignored)
and stopped when the last process using it exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DATABASE_NAME = "xiehui"
LOCAL_PG_URL = "postgresql://postgres@127.0.0.1:5432/"


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _local_postgres_url() -> str | None:
    if not _port_answers("127.0.0.1", 5432):
        return None
    import psycopg

    try:
        with psycopg.connect(LOCAL_PG_URL + "postgres", connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return None
    return LOCAL_PG_URL + DATABASE_NAME


def _embedded_postgres_url():
    import pgserver

    data_dir = VAR / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    socket_dir = str(server.get_postmaster_info().socket_dir)
    return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}", server


def _ensure_database(url: str) -> None:
    """Create the application database on first use (tests create their own test_ database)."""
    import psycopg
    from psycopg import sql

    admin_url = url.replace(f"/{DATABASE_NAME}", "/postgres", 1)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


def resolve_environment(*, probe_local: bool) -> tuple[dict[str, str], object | None]:
    env = dict(os.environ)
    server = None
    if not env.get("DATABASE_URL"):
        url = _local_postgres_url() if probe_local else None
        if url is None:
            url, server = _embedded_postgres_url()
            print(f"[dev] embedded PostgreSQL (pgserver) at {VAR / 'pgdata'}", flush=True)
        else:
            print("[dev] PostgreSQL on 127.0.0.1:5432", flush=True)
        env["DATABASE_URL"] = url
    _ensure_database(env["DATABASE_URL"])
    if probe_local and not env.get("REDIS_URL") and _port_answers("127.0.0.1", 6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
        print("[dev] Redis on 127.0.0.1:6379", flush=True)
    return env, server


def _stop(server) -> None:
    if server is not None:
        server.cleanup()


def command_exec(args: argparse.Namespace) -> int:
    env, server = resolve_environment(probe_local=args.probe_local)
    env.setdefault("TESTING", "1" if args.testing else env.get("TESTING", ""))
    try:
        return subprocess.call(args.command, env=env, cwd=ROOT)
    finally:
        _stop(server)


def _manage(env: dict[str, str], *arguments: str) -> None:
    subprocess.run([sys.executable, "manage.py", *arguments], env=env, cwd=ROOT, check=True)


def _wait_for_port(port: int, children: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        if _port_answers("127.0.0.1", port):
            return
        time.sleep(0.3)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


def _stop_children(children: list[subprocess.Popen]) -> None:
    """SIGTERM each main process (Celery shuts down warm), then whatever is left in its group."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for child in children:  # e.g. runserver's reloaded child, an orphaned pool worker
        _signal_group(child, signal.SIGTERM)
    time.sleep(0.5)
    for child in children:
        _signal_group(child, signal.SIGKILL)


def command_run(args: argparse.Namespace) -> int:
    env, server = resolve_environment(probe_local=False)
    env.setdefault("DEBUG", "1")
    env["PYTHONUNBUFFERED"] = "1"
    children: list[subprocess.Popen] = []
    try:
        _manage(env, "migrate_schemas", "--shared", "-v", "0")
        _manage(env, "migrate_schemas", "--tenant", "-v", "0")
        urls = subprocess.run(
            [sys.executable, "manage.py", "demo_setup", "--port", str(args.port)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (VAR / "celery" / "queue").mkdir(parents=True, exist_ok=True)
        (VAR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
        celery = [sys.executable, "-m", "celery", "-A", "shared"]
        commands = {
            "web": [sys.executable, "manage.py", "runserver", f"0.0.0.0:{args.port}"],
            "worker": [*celery, "worker", "-l", "info", "--concurrency", "1"],
            "beat": [*celery, "beat", "-l", "info"],
        }
        for name, command in commands.items():
            children.append(subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True))
            print(f"[dev] started {name} (pid {children[-1].pid})", flush=True)
        _wait_for_port(args.port, children)
        # First usage figures for the operator console now, not at beat's first 10-minute tick.
        _manage(
            env,
            "shell",
            "-v",
            "0",
            "-c",
            "from tenants.tasks import usage_collect_all; usage_collect_all.delay()",
        )
        broker = "Redis " + env["REDIS_URL"] if env.get("REDIS_URL") else "filesystem (var/celery)"
        print(f"\n[dev] ready; Celery broker: {broker}\n\n{urls}", flush=True)
        print("[dev] Ctrl-C stops the web server, worker, beat and the embedded database.", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("[dev] a process exited; stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\n[dev] stopping", flush=True)
        return 0
    finally:
        _stop_children(children)
        _stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dev")
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.set_defaults(handler=command_run)
    execute = sub.add_parser("exec")
    execute.add_argument(
        "--probe-local", action="store_true", help="use PostgreSQL/Redis on 127.0.0.1 if they answer"
    )
    execute.add_argument("--testing", action="store_true", help="set TESTING=1 (test settings defaults)")
    execute.add_argument("command", nargs=argparse.REMAINDER)
    execute.set_defaults(handler=command_exec)
    args = parser.parse_args(argv)
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    # Ctrl-C and SIGTERM both stop everything (a shell may start us with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

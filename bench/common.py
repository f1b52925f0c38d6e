"""What the benchmarks share: their own throwaway databases, percentiles, ratios, processes."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time

import psycopg


def fresh_database(server: str, name: str) -> None:
    """Drop and create database `name` on `server` (a postgresql:// URL without a database)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pct(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method); a single value is every percentile."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 30.0) -> None:
    """Until a server process started on 127.0.0.1:`port` accepts connections; it is killed and
    the benchmark stops if it exits or does not listen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during startup")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not listen on {port} within {timeout:.0f} s")


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "n/a"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def django_demo_setup(server: str, database: str, name: str) -> None:
    """Django on `database` (migrated, demo loaded) for an in-process bench called `name`: its
    own Celery queue and channel prefix, so it never feeds a worker or a dashboard of another run,
    and a rate limit counted as in production (one Redis round trip a request) but never reached.
    """
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"{server.replace('postgresql://', 'postgres://')}/{database}",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        CELERY_QUEUE=f"countersign-{name}-bench",
        CHANNEL_PREFIX=f"countersign-{name}-bench",
        API_RATE_LIMIT="100000000/min",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from approvals.demo import demo_load

    demo_load()

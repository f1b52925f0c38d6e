"""Execution: approve-to-executed latency and actions executed per second, one worker vs two.

    .venv/bin/python bench/execution.py [--n 500] [--rate 40] [--keep-db]

Creates a fresh database (`countersign_execution_bench`), migrates it, loads the demo, adds an
100 orders big enough for every refund, a supervisor and the agent `support-bot`, and measures, for
each worker setup (the baseline: one worker process with --concurrency 1; then two worker
processes with --concurrency 1 each, so two executions run at once and the work is split by the
broker, not inside one process):

1. Throughput: `--n` refunds of 60.00 USD (pending: they need one approval) are approved while no
   worker runs, so the queue holds them all; then the workers start. Executed per second is n over
   the time from the first attempt's start to the last outcome (`execution_started_at`,
   `finished_at`), each execution being the real sandbox refund through the lease path: three
   transactions (lease, refund, outcome) and two audit events.
2. Latency: with the workers running, `--n` more are approved at a steady `--rate` per second
   (`approvals.services.action_approve` in this process). Approve-to-executed is
   `finished_at - decided_at` of each action (both written by processes on this host).

3. The reference, in the same run: `--n` bare Celery tasks (`bench/bare_worker.py`: one row read
   and one Redis write each) queued, then two workers start as in the second setup. What one
   execution costs beyond any task shows as the ratio of executions to bare tasks per second.

Workers consume a queue named for this run on the local Redis; their database pool is kept small.
Figures only. The database is dropped at the end unless `--keep-db`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "countersign_execution_bench"
SERVER = "postgresql://postgres@127.0.0.1:5432"
AMOUNT = 6000  # over the demo's 50.00 limit: waits for one approval
# Refunds spread over many orders: a refund locks its order, and one order for all would measure
# that lock (and a refundable sum over thousands of refunds), not the execution path.
ORDERS = 100


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def bench_env(queue: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{SERVER.replace('postgresql://', 'postgres://')}/{DATABASE}",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "CELERY_QUEUE": queue,  # never feed a worker of another run
        "CHANNEL_PREFIX": queue,
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "PYTHONUNBUFFERED": "1",
    }


def fresh_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def prepare():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from agents.services import agent_create
    from approvals.demo import DEMO_QUEUES, demo_load
    from approvals.services import supervisor_create
    from sandbox.models import Customer, Order, Payment

    demo_load()
    customer = Customer.objects.create(external_id="CUS-900", name="Bench", email="b@example.com")
    for n in range(ORDERS):
        order = Order.objects.create(
            order_id=f"ORD-{9001 + n}", customer=customer, currency="USD", total_amount=10**12,
            shipping_address={},
        )  # fmt: skip
        Payment.objects.create(order=order, amount=10**12, currency="USD")
    supervisor = supervisor_create(
        username="bench-supervisor", password="correct-horse-battery-staple",
        queues=list(DEMO_QUEUES),
    )  # fmt: skip
    return agent_create(name="support-bot").agent, supervisor


def submit_pending(agent, n: int) -> list:
    from approvals.services import action_submit

    ids = []
    for i in range(n):
        params = {"order_id": f"ORD-{9001 + i % ORDERS}", "amount": AMOUNT, "currency": "USD",
                  "reason": "bench"}  # fmt: skip
        ids.append(action_submit(agent=agent, action_type="refund.issue", params=params).action.pk)
    return ids


def approve(ids, supervisor, rate: float | None) -> None:
    from approvals.services import action_approve

    start = time.monotonic()
    for i, action_id in enumerate(ids):
        if rate:
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        action_approve(action_id=action_id, by=supervisor, reason_code="verified-eligible")


def start_workers(
    count: int, queue: str, logs: Path, app: str = "config"
) -> list[subprocess.Popen]:
    env = dict(os.environ) | bench_env(queue)
    procs = []
    for n in range(count):
        log = logs / f"worker-{n}.log"
        command = [
            sys.executable, "-m", "celery", "-A", app, "worker", "--concurrency=1",
            "--loglevel=INFO", "-Q", queue, "-n", f"bench{n}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    for n, proc in enumerate(procs):
        log = logs / f"worker-{n}.log"
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.1)
    return procs


def stop_workers(procs) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


def wait_done(ids, timeout: float = 600) -> None:
    from approvals.models import Action, Status

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = Action.objects.filter(pk__in=ids).exclude(status=Status.SUCCEEDED).count()
        if not left:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{left} of {len(ids)} not executed within {timeout}s")


def measure(label: str, workers: int, agent, supervisor, args, logs: Path) -> dict:
    from approvals.models import Action

    queue = f"bench-exec-{os.getpid()}-{workers}"
    os.environ["CELERY_QUEUE"] = queue
    from celery import current_app

    current_app.conf.task_default_queue = queue

    # 1. throughput: a full queue, then the workers start
    ids = submit_pending(agent, args.n)
    approve(ids, supervisor, rate=None)
    procs = start_workers(workers, queue, logs)
    try:
        wait_done(ids)
        rows = Action.objects.filter(pk__in=ids).values_list(
            "execution_started_at", "finished_at", "attempts"
        )
        first = min(r[0] for r in rows)
        last = max(r[1] for r in rows)
        throughput = args.n / (last - first).total_seconds()
        attempts = sum(r[2] for r in rows)

        # 2. latency at a steady approval rate
        ids = submit_pending(agent, args.n)
        approve(ids, supervisor, rate=args.rate)
        wait_done(ids)
        latencies = [
            (finished - decided).total_seconds() * 1000
            for decided, finished in Action.objects.filter(pk__in=ids).values_list(
                "decided_at", "finished_at"
            )
        ]
    finally:
        stop_workers(procs)
    return {
        "label": label,
        "throughput": throughput,
        "attempts_per_action": attempts / args.n,
        "p50": statistics.median(latencies),
        "p99": pct(latencies, 99),
        "max": max(latencies),
    }


def measure_bare(workers: int, agent, args, logs: Path) -> dict:
    """Bare tasks per second on `workers` worker processes: n queued, then the workers start."""
    import redis
    from celery import current_app
    from django.conf import settings

    queue = f"bench-bare-{os.getpid()}"
    key = f"{queue}:ran"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(key)
    action_id = str(submit_pending(agent, 1)[0])
    for _ in range(args.n):
        current_app.send_task(
            "bench.bare_task", kwargs={"action_id": action_id, "key": key}, queue=queue
        )
    procs = start_workers(workers, queue, logs, app="bench.bare_worker")
    try:
        deadline = time.monotonic() + 120
        while client.llen(key) < args.n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{client.llen(key)} of {args.n} bare tasks ran within 120s")
            time.sleep(0.1)
        ran = [float(t) for t in client.lrange(key, 0, -1)]
    finally:
        stop_workers(procs)
        client.delete(key, queue)
    return {"label": f"bare task, {workers} workers x concurrency 1",
            "throughput": (args.n - 1) / (max(ran) - min(ran))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    # Below what one worker executes per second: a latency, not a queue growing without end.
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    os.environ.update(bench_env(f"bench-exec-{os.getpid()}"))
    fresh_database()
    logs = Path(f"/tmp/bench-execution-{os.getpid()}")
    logs.mkdir(exist_ok=True)
    try:
        agent, supervisor = prepare()
        results = [
            measure("1 worker x concurrency 1 (baseline)", 1, agent, supervisor, args, logs),
            measure("2 workers x concurrency 1", 2, agent, supervisor, args, logs),
        ]
        bare = measure_bare(2, agent, args, logs)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database()

    print(f"\nexecution bench: N={args.n} approved refunds per phase, latency phase at "
          f"{args.rate:.0f} approvals/s; worker logs in {logs}")  # fmt: skip
    print(f"{'setup':38} {'executed/s':>10} {'attempts':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}")  # fmt: skip
    for r in results:
        print(f"{r['label']:38} {r['throughput']:10.1f} {r['attempts_per_action']:9.2f} "
              f"{r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f}")  # fmt: skip
    base, two = results
    print(f"{bare['label']:38} {bare['throughput']:10.1f}")
    print(f"two workers vs one: throughput x{two['throughput'] / base['throughput']:.2f}, "
          f"p50 x{two['p50'] / base['p50']:.2f}, p99 x{two['p99'] / base['p99']:.2f}")  # fmt: skip
    print(f"executions vs bare tasks, two workers: x{two['throughput'] / bare['throughput']:.2f}")


if __name__ == "__main__":
    main()

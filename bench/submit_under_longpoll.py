"""Submit latency and throughput with no waiters and with 200 open long-polls, on a real uvicorn.

    .venv/bin/python bench/submit_under_longpoll.py [--waiters 200] [--requests 300]

Creates a fresh database (`countersign_bench`), migrates it, loads the demo and creates an agent,
starts uvicorn on it, then measures in one run, with the same client settings:

1. GET detail with no waiters (a baseline for the read path),
2. POST submit with no waiters (the baseline),
3. POST submit while N `wait/` long-polls are open (and checks they all stay open),
4. GET detail while they are open,

cancels the waited actions (every wait must return `cancelled`), and prints p50/p99 latency,
throughput and the ratios of 3 to 2. Figures only: nothing here passes or fails on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from common import drop_database, fresh_database, wait_listening

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Phase:
    name: str
    latencies: list[float]
    wall: float
    statuses: dict[int, int]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall

    def pct(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def row(self) -> str:
        codes = ",".join(f"{k}x{v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.name:<34} {len(self.latencies):>5} {self.throughput:>8.1f} "
            f"{self.pct(50):>8.1f} {self.pct(99):>8.1f}   {codes}"
        )


# ---------------------------------------------------------------------------------------------
# setup


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    wait_listening(proc, port)
    return proc


# ---------------------------------------------------------------------------------------------
# load


def refund(i: int) -> dict:
    # Over the 50.00 limit: pending, so nothing is sent to Celery.
    return {
        "action_type": "refund.issue",
        "params": {
            "order_id": "ORD-1001",
            "amount": 10000 + i % 1000,
            "currency": "USD",
            "reason": "bench",
        },
    }


async def run_phase(name: str, n: int, concurrency: int, request) -> Phase:
    """`request(i)` is awaited n times by `concurrency` workers; each latency is recorded."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(n))

    async def worker():
        for i in counter:
            started = time.perf_counter()
            response = await request(i)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Phase(name, latencies, time.perf_counter() - started, statuses)


def server_threads(pid: int) -> int:
    """Threads of the uvicorn process (Linux /proc; 0 where it is not available)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    counts = [int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:")]
    return counts[0] if counts else 0


def database_connections(server: str, name: str) -> int:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
    return row[0]


async def bench(base: str, key: str, args, server_pid: int) -> None:
    auth = {"Authorization": f"Api-Key {key}"}
    run_tag = str(time.time_ns())
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=base, headers=auth, limits=limits, timeout=30) as client:

        async def submit(i: int, tag: str = "") -> httpx.Response:
            return await client.post(
                "/api/v1/actions/",
                json=refund(i),
                headers={"Idempotency-Key": f"{run_tag}-{tag}{i}"},
            )

        first = await submit(0, "seed-")
        detail_url = f"/api/v1/actions/{first.json()['id']}/"

        async def detail(i: int) -> httpx.Response:
            return await client.get(detail_url)

        await run_phase("warm-up", 40, args.concurrency, lambda i: submit(i, "warm-"))
        await run_phase("warm-up", 40, args.concurrency, detail)

        phases = [
            await run_phase("GET detail, 0 waiters", args.requests, args.concurrency, detail),
            await run_phase(
                "POST submit, 0 waiters",
                args.requests,
                args.concurrency,
                lambda i: submit(i, "base-"),
            ),
        ]

        # The actions the waiters wait on (setup, not measured).
        waited = [(await submit(i, "waited-")).json()["id"] for i in range(args.waiters)]

        wait_limits = httpx.Limits(max_connections=args.waiters + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base, headers=auth, limits=wait_limits, timeout=args.wait_timeout + 30
        ) as waiter_client:
            waits = [
                asyncio.create_task(
                    waiter_client.get(
                        f"/api/v1/actions/{pk}/wait/", params={"timeout": args.wait_timeout}
                    )
                )
                for pk in waited
            ]
            await asyncio.sleep(2)  # every wait connected and parked on the server
            open_before = sum(not w.done() for w in waits)
            parked_threads = server_threads(server_pid)
            parked_connections = await asyncio.to_thread(
                database_connections, args.server, args.database
            )
            under_load = await run_phase(
                f"POST submit, {args.waiters} waiters",
                args.requests,
                args.concurrency,
                lambda i: submit(i, "load-"),
            )
            detail_under_load = await run_phase(
                f"GET detail, {args.waiters} waiters", args.requests, args.concurrency, detail
            )
            open_after = sum(not w.done() for w in waits)

            # Wake every waiter: the agent withdraws the actions it was waiting on.
            woke_at = time.perf_counter()
            await asyncio.gather(*(client.post(f"/api/v1/actions/{pk}/cancel/") for pk in waited))
            results = await asyncio.gather(*waits, return_exceptions=True)
            all_returned = time.perf_counter() - woke_at

    phases += [under_load, detail_under_load]
    idle_threads = server_threads(server_pid)
    cancelled = sum(
        1
        for r in results
        if isinstance(r, httpx.Response)
        and r.status_code == 200
        and r.json()["status"] == "cancelled"
    )

    print()
    print(f"{'phase':<34} {'n':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}   statuses")
    for phase in phases:
        print(phase.row())
    base_submit = phases[1]
    print()
    print(
        f"submit with {args.waiters} open waiters vs none: "
        f"throughput x{under_load.throughput / base_submit.throughput:.2f}, "
        f"p50 x{under_load.pct(50) / base_submit.pct(50):.2f}, "
        f"p99 x{under_load.pct(99) / base_submit.pct(99):.2f}"
    )
    print(
        f"waiters: {open_before}/{args.waiters} open before, {open_after}/{args.waiters} still "
        f"open after both loaded phases; after cancelling, {cancelled}/{args.waiters} returned "
        f"200 'cancelled' within {all_returned:.2f} s"
    )
    print(
        f"while {open_before} waits were parked: {parked_connections} PostgreSQL connection(s) "
        f"to the bench database, {parked_threads} server threads ({idle_threads} once they left)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300, help="per measured phase")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in flight")
    parser.add_argument("--wait-timeout", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="countersign_bench")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{args.server.replace('postgresql://', 'postgres://')}/{args.database}",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        CELERY_QUEUE="countersign-bench",  # never feed a worker of another run
        CHANNEL_PREFIX="countersign-bench",  # nor push into its dashboards
        API_RATE_LIMIT="",  # the bench measures the server, not the per-key rate limit
        PYTHONUNBUFFERED="1",
    )
    started = time.monotonic()
    print(f"preparing database {args.database} ...", flush=True)
    fresh_database(args.server, args.database)
    proc = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo")
        key = manage(env, "create_agent", "bench-bot").strip()
        port = free_port()
        proc = start_server(env, port, args.workers)
        print(
            f"uvicorn ({args.workers} worker(s)) on :{port}; {args.requests} requests per phase, "
            f"{args.concurrency} in flight, {args.waiters} waiters, cpus={os.cpu_count()}",
            flush=True,
        )
        print(f"setup took {time.monotonic() - started:.1f} s", flush=True)
        asyncio.run(bench(f"http://127.0.0.1:{port}", key, args, proc.pid))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep_db:
            drop_database(args.server, args.database)
    print(f"\ntotal {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()

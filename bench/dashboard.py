"""The supervisor dashboard at scale: first queue page with 100k pending, and submit-to-screen.

    .venv/bin/python bench/dashboard.py [--pending 100000] [--dashboards 50] [--rate 100]
                                        [--seconds 20] [--requests 200] [--workers 1]
                                        [--submitters 2] [--submit-via service|http] [--keep-db]

Creates a fresh database (`countersign_dashboard_bench`), migrates it, loads the demo, creates a
supervisor who works every demo queue and the agent `support-bot`, starts uvicorn
(`config.asgi:application`) on it, then measures in one run:

1. The first queue page, `GET /` as the signed-in supervisor, through the server, one request
   at a time: p50/p95/p99 with 1,000 pending actions (the baseline) and with `--pending` of them
   (seeded straight into the table with `INSERT ... SELECT generate_series`: several queues and
   action types, demo orders, amounts, priorities, SLA due times in the past and the future), and
   the ratios. Also the SQL queries the page makes, counted in-process (Django test client) at
   both sizes: a page that scales must make the same number (goal: p95 under 150 ms at 100k).
2. Submit-to-screen: dashboards connected to `/ws/dashboard/` with the supervisor's session,
   while `--submitters` processes (set up and warm before the clock starts) call
   `approvals.services.action_submit` on one shared schedule at a steady `--rate` for
   `--seconds` (refunds of 50.01-500.00 USD: pending in `Refunds`). Latency is the
   time from the call of the submit (taken in the submitter just before it calls the service,
   so it includes the submit itself, its commit and the rendering of the pushed row; all
   processes share the clock) to the receipt of its `action.changed` message, over every
   (action, dashboard) pair; a pair not received within `--deadline` seconds is missed. Like the
   page's script, a dashboard the server disconnects reconnects (counted as `closed`). Measured
   with one dashboard (the baseline) and with `--dashboards` of them, at the same rate
   (goal: p99 under 100 ms with 50 dashboards at 100 submissions/s). Also where the CPU went,
   per submission: the server, the submitters, the dashboard clients and the rest of the
   machine (PostgreSQL, Redis, the kernel), from the start signal to the end of the deadline.
3. What one row costs to render, in-process: a new action's pushed row as its submitter renders
   it (`presenters.pushed_row_html`), and any row read back from the database
   (`presenters.action_row_render`, what a decision's push and a server's fallback cost).
4. The transport alone, the floor under 2: events at `--rate` to one group of 1 and of
   `--dashboards` receivers in one process, with no rendering and no database, through the
   channel layer (channels_redis: one message per receiving channel, as the consumers used
   before the feed) and through the feed (`approvals.realtime.feed`: one message per process),
   with the CPU this process spent per delivered pair.

The submitters call the service in their own processes rather than POSTing to the API, so that
the rate they keep does not depend on how busy the one server process is with the fan-out it
measures (`--submit-via http` POSTs to `/api/v1/actions/` instead); one process could not keep
100/s on two shared cores. Figures only: nothing here passes or fails on speed. The database and
this run's channel-layer keys are dropped at the end unless `--keep-db`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import uvloop
from common import drop_database, fresh_database, pct, wait_listening

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

AGENT = "support-bot"
SUPERVISOR = "bench-supervisor"
PASSWORD = "correct-horse-battery-staple"
BASELINE_PENDING = 1000


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "n/a"


# ---------------------------------------------------------------------------------------------
# setup


def bench_env(args) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{args.server.replace('postgresql://', 'postgres://')}/{args.database}",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "CELERY_QUEUE": args.prefix,  # never feed a worker of another run
        "CHANNEL_PREFIX": args.prefix,  # nor push into its dashboards
        "API_RATE_LIMIT": "",  # the bench measures the server, not the per-key rate limit
        "PYTHONUNBUFFERED": "1",
        # whitenoise's note that `collectstatic` never ran here; pages are served all the same
        "PYTHONWARNINGS": "ignore:No directory at",
    }


def django_setup() -> None:
    import django

    django.setup()


def prepare() -> tuple[str, str]:
    """Migrate, load the demo, create the supervisor and the agent: (session cookie, api key)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from agents.services import agent_create
    from approvals.demo import DEMO_QUEUES, demo_load
    from approvals.services import supervisor_create

    demo_load()
    supervisor_create(
        username=SUPERVISOR, password=PASSWORD, role="supervisor", queues=list(DEMO_QUEUES)
    )
    key = agent_create(name=AGENT).key
    return session_cookie(), key


def session_cookie() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=SUPERVISOR))
    return client.cookies["sessionid"].value


# ---------------------------------------------------------------------------------------------
# seeding

# One statement per kind of action; generate_series(first, last) numbers the rows, and every
# figure is derived from the number so a run is reproducible. Shares: 60 % refunds (Refunds),
# 20 % credential resets (Account security), 20 % cancels and address changes (General, "").
_SEED_SQL = """
INSERT INTO approvals_action (
    id, status, version, params, context, intent, callback_url, amount, currency, order_ref,
    request_hash, mode, rule_name, explanation, approvals_required, approver_role, queue,
    attempts, created_at, updated_at, action_type_id, agent_id, policy_version_id, rule_id,
    priority, sla_due_at, lease_owner
)
SELECT
    gen_random_uuid(), 'pending', 1, k.params, k.context, 'execute', '', k.amount, k.currency,
    k.order_ref, md5(n::text), 'execute_gated', k.rule_name, k.explanation, k.approvals,
    'supervisor', k.queue, 0,
    now() - make_interval(secs => (n * 6) %% 604800),
    now() - make_interval(secs => (n * 6) %% 604800),
    k.action_type_id, %(agent)s, %(version)s, k.rule_id,
    (ARRAY[10, 20, 20, 20, 30, 40])[1 + n %% 6],
    -- from 3 hours overdue to 12 hours ahead: about a fifth overdue
    now() + make_interval(mins => (n * 7) %% 900 - 180),
    ''
FROM generate_series(%(first)s, %(last)s) AS n
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN n %% 10 < 6 THEN %(refund)s WHEN n %% 10 < 8 THEN %(reset)s
             WHEN n %% 10 = 8 THEN %(cancel)s ELSE %(address)s END AS action_type_id,
        CASE WHEN n %% 10 < 6 THEN 'Refunds' WHEN n %% 10 < 8 THEN 'Account security'
             ELSE '' END AS queue,
        CASE WHEN n %% 10 < 6 THEN %(refund_rule)s WHEN n %% 10 < 8 THEN %(reset_rule)s
             ELSE NULL END AS rule_id,
        CASE WHEN n %% 10 < 6 THEN 'refund-over-50-needs-approval'
             WHEN n %% 10 < 8 THEN 'credentials-reset-needs-a-human' ELSE '' END AS rule_name,
        CASE WHEN n %% 10 < 8 AND n %% 10 >= 6 THEN 2 ELSE 1 END AS approvals,
        CASE WHEN n %% 10 < 6 THEN 5001 + (n * 7919) %% 44999 END AS amount,
        CASE WHEN n %% 10 < 6 THEN 'USD' ELSE '' END AS currency,
        CASE WHEN n %% 10 BETWEEN 6 AND 7 THEN '' ELSE 'ORD-' || (1001 + n %% 15) END AS order_ref,
        CASE
            WHEN n %% 10 < 6 THEN jsonb_build_object(
                'order_id', 'ORD-' || (1001 + n %% 15), 'amount', 5001 + (n * 7919) %% 44999,
                'currency', 'USD', 'reason', 'customer reports item ' || n || ' arrived damaged')
            WHEN n %% 10 < 8 THEN jsonb_build_object(
                'customer_id', 'CUS-' || lpad((1 + n %% 15)::text, 3, '0'),
                'channel', CASE WHEN n %% 2 = 0 THEN 'email' ELSE 'sms' END)
            WHEN n %% 10 = 8 THEN jsonb_build_object(
                'order_id', 'ORD-' || (1001 + n %% 15), 'reason', 'customer changed their mind')
            ELSE jsonb_build_object(
                'order_id', 'ORD-' || (1001 + n %% 15),
                'address', jsonb_build_object(
                    'line1', n || ' Bench Street', 'city', 'Springfield', 'country', 'US'))
        END AS params,
        jsonb_build_object('sentiment', (ARRAY['calm', 'upset', 'angry'])[1 + n %% 3],
                           'customer_tier', (ARRAY['gold', 'silver', 'bronze'])[1 + n %% 3])
            AS context,
        CASE
            WHEN n %% 10 < 6 THEN 'refund ' || (5001 + (n * 7919) %% 44999)
                || ' > 50.00 limit for agent `support-bot`: needs 1 approval'
            WHEN n %% 10 < 8 THEN
                'credential resets always need a human: needs 2 approvals from different people'
            ELSE 'no rule matched: the action type''s default applies'
        END AS explanation
) AS k
"""


def pending_count() -> int:
    from approvals.models import Action, Status

    return Action.objects.filter(status=Status.PENDING).count()


def seed_pending(target: int) -> float:
    """Insert pending actions until `target` are pending; seconds it took (insert + analyze)."""
    from django.db import connection

    from agents.models import Agent
    from policies.models import ActionType, PolicyVersion

    have = pending_count()
    if have >= target:
        return 0.0
    started = time.perf_counter()
    version = PolicyVersion.objects.get(is_active=True)
    rules = dict(version.rules.values_list("name", "id"))
    types = dict(ActionType.objects.values_list("key", "id"))
    params = {
        "agent": Agent.objects.get(name=AGENT).pk,
        "version": version.pk,
        "refund": types["refund.issue"],
        "reset": types["credentials.reset"],
        "cancel": types["order.cancel"],
        "address": types["address.change"],
        "refund_rule": rules["refund-over-50-needs-approval"],
        "reset_rule": rules["credentials-reset-needs-a-human"],
    }
    step = 20000
    with connection.cursor() as cursor:
        for first in range(have + 1, target + 1, step):
            last = min(first + step - 1, target)
            cursor.execute(_SEED_SQL, {**params, "first": first, "last": last})
    # As autovacuum would have by the time a table holds that much: fresh statistics and a
    # visibility map, so the planner sees the table as it is.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE approvals_action")
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# 1. the first queue page


def page_query_count() -> tuple[int, int]:
    """(queries, response bytes) of GET / as the supervisor, in-process; the second of two
    requests, so that per-process caches are warm as they are in a running server."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=SUPERVISOR))
    client.get("/")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert response.status_code == 200, response.status_code
    return len(captured.captured_queries), len(response.content)


def time_page(base: str, cookie: str, requests: int, warmup: int) -> tuple[list[float], int]:
    """Latencies (ms) of GET / one at a time over a kept-alive connection, and the page size."""
    import httpx

    with httpx.Client(base_url=base, cookies={"sessionid": cookie}, timeout=60) as client:
        size = 0
        for _ in range(warmup):
            response = client.get("/")
            assert response.status_code == 200, response.status_code
            size = len(response.content)
        latencies = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get("/")
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    return latencies, size


def bench_page(args, base: str, cookie: str) -> dict:
    print("\n1. first queue page, GET / as a supervisor of every demo queue, one at a time")
    rows = {}
    for target in (BASELINE_PENDING, args.pending):
        seconds = seed_pending(target)
        pending = pending_count()
        queries, _ = page_query_count()
        latencies, size = time_page(base, cookie, args.requests, args.warmup)
        rows[target] = (pending, queries, size, latencies, seconds)
        print(
            f"   seeded to {pending:,} pending in {seconds:.1f} s; measured {args.requests} "
            f"requests after {args.warmup} warm-up",
            flush=True,
        )
    print(
        f"\n{'pending':>9} {'queries':>8} {'KiB':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    for pending, queries, size, lat, _ in rows.values():
        print(
            f"{pending:>9,} {queries:>8} {size / 1024:>7.0f} {pct(lat, 50):>8.1f} "
            f"{pct(lat, 95):>8.1f} {pct(lat, 99):>8.1f} {max(lat):>8.1f}"
        )
    base_row, big_row = rows[BASELINE_PENDING], rows[args.pending]
    print(
        f"\npage at {big_row[0]:,} vs {base_row[0]:,} pending: "
        f"p50 {ratio(pct(big_row[3], 50), pct(base_row[3], 50))}, "
        f"p95 {ratio(pct(big_row[3], 95), pct(base_row[3], 95))}; queries "
        f"{base_row[1]} -> {big_row[1]} "
        f"({'constant' if base_row[1] == big_row[1] else 'NOT constant'}); "
        f"goal p95 < 150 ms: {pct(big_row[3], 95):.1f} ms"
    )
    return rows


# ---------------------------------------------------------------------------------------------
# 2. submit-to-screen


def refund(i: int, run: str) -> dict:
    # Over the 50.00 auto-approve limit and under the 500.00 escalation one: pending in Refunds.
    return {
        "order_id": f"ORD-{1001 + i % 15}",
        "amount": 5001 + (i * 7919) % 44999,
        "currency": "USD",
        "reason": f"bench {run} #{i}",
    }


def submitter_main(args) -> None:
    """One submitter process: submissions k, k + s, k + 2s ... of a shared schedule. Says it is
    ready, reads the wall-clock start from stdin, prints one JSON line per submission (action id,
    wall-clock time after commit), then a summary line."""
    django_setup()
    from agents.models import Agent
    from approvals.services import action_submit

    agent = Agent.objects.get(name=AGENT)
    total = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    out = sys.stdout
    late = 0

    client = None
    if args.submit_via == "http":
        import httpx

        client = httpx.Client(
            base_url=args.base, headers={"Authorization": f"Api-Key {args.key}"}, timeout=30
        )
    # one untimed submission: connections and caches warm
    action_submit(
        agent=agent, action_type="refund.issue", params=refund(args.offset, args.run + "w")
    )
    out.write(json.dumps({"ready": args.offset}) + "\n")
    out.flush()
    start = float(sys.stdin.readline())
    sent = 0
    cpu = time.process_time()
    for i in range(args.offset, total, args.submitters):
        due = start + i * interval
        now = time.time()
        if due > now:
            time.sleep(due - now)
        elif now - due > interval * args.submitters:
            late += 1  # more than one of this process's intervals behind schedule
        called = time.time()
        if client is None:
            result = action_submit(
                agent=agent, action_type="refund.issue", params=refund(i, args.run)
            )
            action_id, status = str(result.action.pk), result.action.status
        else:
            response = client.post(
                "/api/v1/actions/",
                json={"action_type": "refund.issue", "params": refund(i, args.run)},
            )
            body = response.json()
            action_id, status = body["id"], body["status"]
        out.write(json.dumps({"id": action_id, "t": called, "status": status}) + "\n")
        sent += 1
    cpu = time.process_time() - cpu
    out.write(json.dumps({"done": sent, "late": late, "cpu": cpu}) + "\n")
    out.flush()


# How every `action.changed` frame starts (`approvals.consumers`), the action id right after.
CHANGED_HEAD = b'{"type": "action.changed", "action_id": "'
ID_AT = len(CHANGED_HEAD)


async def dashboard_client(
    uri: str, origin: str, cookie: str, received: dict, ready, closes: list
) -> None:
    """One dashboard: records the first receipt time of each action id's `action.changed`.
    Like the page's script, it reconnects when the server closes the socket (and counts it)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    while True:
        async with connect(
            uri,
            origin=origin,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            max_size=2**22,
            ping_interval=None,
        ) as ws:
            if not ready.done():
                ready.set_result(True)
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    t = time.time()
                    data = json.loads(message)
                    if data.get("type") == "action.changed":
                        received.setdefault(data.get("action_id"), t)
        # Only the server ends a connection before the bench cancels this task.
        closes.append(ws.close_code)
        await asyncio.sleep(0.25)


async def start_submitters(args, base: str, key: str, run: str, procs: list) -> None:
    """Start the submitter processes into `procs` (so the caller can always stop them) and wait
    until each is set up and warm, waiting on stdin for the start time."""
    options = {
        "--rate": args.rate, "--seconds": args.seconds, "--run": run,
        "--submit-via": args.submit_via, "--base": base, "--key": key,
        "--submitters": args.submitters,
    }  # fmt: skip
    argv = [item for option, value in options.items() for item in (option, str(value))]
    for k in range(args.submitters):
        proc = await asyncio.create_subprocess_exec(
            PYTHON, __file__, "--_submitter", *argv, "--offset", str(k),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ}, cwd=ROOT,
        )  # fmt: skip
        procs.append(proc)
    for proc in procs:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if not line or "ready" not in json.loads(line):
            raise SystemExit("a submitter did not get ready")


async def run_fanout(
    args, base: str, cookie: str, key: str, dashboards: int, run: str, server_pid: int
) -> dict:
    port = base.rsplit(":", 1)[1]
    uri, origin = f"ws://127.0.0.1:{port}/ws/dashboard/", f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    received: list[dict] = [{} for _ in range(dashboards)]
    closes: list[int | None] = []
    readies = [loop.create_future() for _ in range(dashboards)]
    clients: list[asyncio.Task] = []
    submitters: list[asyncio.subprocess.Process] = []
    submitted: dict[str, float] = {}
    statuses: dict[str, int] = {}
    late = 0
    submit_cpu = 0.0
    start = 0.0
    try:
        await start_submitters(args, base, key, run, submitters)
        clients = [
            asyncio.create_task(
                dashboard_client(uri, origin, cookie, received[i], readies[i], closes)
            )
            for i in range(dashboards)
        ]
        await asyncio.wait(
            [asyncio.gather(*readies), *clients], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        for task in clients:
            if task.done():
                task.result()  # a client that failed to connect raises here
        if not all(ready.done() for ready in readies):
            raise SystemExit("dashboards did not connect within 30 s")
        await asyncio.sleep(0.5)  # every consumer has joined its groups and sent `hello`
        # One shared schedule: submission i is due at start + i / rate, whichever process sends it.
        start = time.time() + 0.2
        cpu_before = cpu_split(server_pid)
        for proc in submitters:
            proc.stdin.write(f"{start!r}\n".encode())
            await proc.stdin.drain()

        async def read(proc) -> None:
            nonlocal late, submit_cpu
            async for line in proc.stdout:
                record = json.loads(line)
                if "done" in record:
                    late += record["late"]
                    submit_cpu += record["cpu"]
                else:
                    submitted[record["id"]] = record["t"]
                    statuses[record["status"]] = statuses.get(record["status"], 0) + 1
            await proc.wait()
            if proc.returncode != 0:
                raise SystemExit(f"a submitter failed with exit code {proc.returncode}")

        await asyncio.gather(*(read(proc) for proc in submitters))
        # Give the last submissions the full deadline to arrive.
        await asyncio.sleep(args.deadline)
        cpu_after = cpu_split(server_pid)
    finally:
        for proc in submitters:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    latencies: list[float] = []
    missed = 0
    arrived_at_all = 0
    last_arrival = max((t for seen in received for t in seen.values()), default=start)
    for seen in received:
        for action_id, called in submitted.items():
            arrived = seen.get(action_id)
            arrived_at_all += arrived is not None
            if arrived is None or arrived - called > args.deadline:
                missed += 1
            else:
                latencies.append((arrived - called) * 1000)
    return {
        "dashboards": dashboards,
        "submitted": len(submitted),
        # from the first scheduled submission to the last commit
        "rate": len(submitted) / (max(submitted.values()) - start) if submitted else 0.0,
        "received": arrived_at_all,
        # pairs delivered per second, from the first scheduled submission to the last arrival
        "delivered": arrived_at_all / (last_arrival - start) if last_arrival > start else 0.0,
        "closed": len(closes),
        "late": late,
        "statuses": statuses,
        "latencies": latencies,
        "missed": missed,
        "expected": len(submitted) * dashboards,
        "cpu": _cpu_per_role(cpu_before, cpu_after, submit_cpu),
    }


def _cpu_per_role(before: dict, after: dict, submitters: float) -> dict[str, float]:
    cpu = {k: after[k] - before[k] for k in after}
    # Submitters count from their start signal to their last submission (not their set-up); the
    # rest is PostgreSQL, Redis, the kernel and the bench's own bookkeeping.
    cpu["submitters"] = submitters
    cpu["the rest"] = cpu.pop("machine") - cpu["server"] - cpu["clients"] - submitters
    return cpu


def _cpu_of(match) -> float:
    """User + system CPU seconds of the live processes `match(pid, ppid, name)` picks."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        # after the command: state, ppid, ... utime is field 14 and stime 15 of the whole line
        if match(int(entry.name), int(fields[1]), name):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


ROLES = ("server", "submitters", "clients", "the rest")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (/proc/stat: all but idle and
    iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (and its workers), of this process (the dashboard
    clients, when nothing else runs in it) and of the whole machine."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "server": _cpu_of(lambda pid, ppid, _: server_pid in (pid, ppid)),
        "clients": me.ru_utime + me.ru_stime,
        "machine": machine_busy_seconds(),
    }


def bench_fanout(args, base: str, cookie: str, key: str, server_pid: int) -> None:
    print(
        f"\n2. submit-to-screen: {args.rate}/s for {args.seconds} s via "
        f"{'action_submit' if args.submit_via == 'service' else 'HTTP POST'} from "
        f"{args.submitters} submitter process(es)"
        f", deadline {args.deadline} s per pair",
        flush=True,
    )
    results = []
    for dashboards in (1, args.dashboards):
        run = f"{time.time_ns()}"
        # uvloop, as the server runs on: the clients' share of the two cores stays small.
        result = asyncio.run(
            run_fanout(args, base, cookie, key, dashboards, run, server_pid),
            loop_factory=uvloop.new_event_loop,
        )
        results.append(result)
        print(f"   {dashboards} dashboard(s) done", flush=True)
    print(
        f"\n{'dashboards':>10} {'submitted':>9} {'rate/s':>7} {'late':>5} {'pairs':>7} "
        f"{'arrived':>7} {'recv/s':>7} {'missed':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'closed':>6}   statuses"
    )
    for r in results:
        lat = r["latencies"] or [float("nan")]
        codes = ",".join(f"{k}x{v}" for k, v in sorted(r["statuses"].items()))
        print(
            f"{r['dashboards']:>10} {r['submitted']:>9} {r['rate']:>7.1f} {r['late']:>5} "
            f"{r['expected']:>7} {r['received']:>7} {r['delivered']:>7.0f} {r['missed']:>7} "
            f"{pct(lat, 50):>8.1f} {pct(lat, 95):>8.1f} {pct(lat, 99):>8.1f} {max(lat):>8.1f} "
            f"{r['closed']:>6}   {codes}"
        )
    print(f"\n{'CPU ms per submission':>22} " + " ".join(f"{k:>10}" for k in ROLES) + "      total")
    for r in results:
        per = {k: r["cpu"][k] * 1000 / max(1, r["submitted"]) for k in ROLES}
        print(
            f"{r['dashboards']:>11} dashboard(s) "
            + " ".join(f"{per[k]:>10.2f}" for k in ROLES)
            + f" {sum(per.values()):>10.2f}"
        )
    one, many = results
    if one["latencies"] and many["latencies"]:
        print(
            f"\n{many['dashboards']} dashboards vs 1: p50 "
            f"{ratio(pct(many['latencies'], 50), pct(one['latencies'], 50))}, p99 "
            f"{ratio(pct(many['latencies'], 99), pct(one['latencies'], 99))}; goal p99 < 100 ms "
            f"with {many['dashboards']}: {pct(many['latencies'], 99):.1f} ms, "
            f"{many['missed']} of {many['expected']} pairs missed"
        )
    print(
        "   ('late': submissions started more than one interval behind schedule; 'arrived': "
        "pairs received at all, 'recv/s' of them per second until the last; 'missed': not within "
        "the deadline; 'closed': connections the server closed during the phase, each reconnected "
        "after 0.25 s; CPU: from the start signal to the end of the deadline wait, per submission, "
        f"on a machine of {os.cpu_count()} cores, so {os.cpu_count() * 1000 / args.rate:.0f} ms "
        "per submission in all is the whole machine)"
    )


# ---------------------------------------------------------------------------------------------
# 3. the cost of one pushed row


def bench_row_render(samples: int = 200) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from approvals import presenters, selectors
    from approvals.models import Action, Status

    ids = list(
        Action.objects.filter(status=Status.PENDING, queue="Refunds")
        .order_by("-created_at", "id")
        .values_list("id", flat=True)[:samples]
    )
    # As its service holds a new action when the push is rendered: agent and type in hand.
    held = {
        a.pk: a for a in Action.objects.filter(pk__in=ids).select_related(*selectors.ROW_RELATIONS)
    }
    max_age = presenters.PUSHED_ROW_CATALOG_MAX_AGE
    ways = {
        "a new action's pushed row (pushed_row_html, in the submitter)":
            lambda i: presenters.pushed_row_html(action=held[i], created=True),
        "a row read back (action_row_render: decisions, executions, fallback)":
            lambda i: presenters.action_row_render(action_id=i, catalog_max_age=max_age)[0],
    }  # fmt: skip
    print("\n3. rendering one row, in-process")
    for label, render in ways.items():
        render(ids[0])
        with CaptureQueriesContext(connection) as captured:
            html = render(ids[1])
        times = []
        for action_id in ids:
            started = time.perf_counter()
            render(action_id)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"   {label}: {len(captured)} queries, {len(html) / 1024:.1f} KiB, "
            f"p50 {pct(times, 50):.2f} ms, p99 {pct(times, 99):.2f} ms"
        )


# ---------------------------------------------------------------------------------------------
# 4. the transport alone: the channel layer (one message per socket) against the feed


def _paced(rate: float, seconds: float, send) -> None:
    """Call `send(t)` at `rate` for `seconds`, from the calling thread, `t` its wall clock."""
    start = time.time() + 0.2
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        send(time.time())


async def _layer_fanout(receivers: int, rate: float, seconds: float) -> list[list[float]]:
    """`receivers` channels of this process in one group, as consumers held them before the feed;
    a sender thread with its own loop and layer does `group_send` at `rate`."""
    from channels.layers import channel_layers, get_channel_layer

    layer = get_channel_layer()
    group = f"bench.layer.{time.time_ns()}"
    channels = [await layer.new_channel() for _ in range(receivers)]
    for channel in channels:
        await layer.group_add(group, channel)
    arrivals: list[list[float]] = [[] for _ in range(receivers)]

    async def receive(i: int) -> None:
        while True:
            message = await layer.receive(channels[i])
            arrivals[i].append(time.time() - message["t"])

    def send() -> None:
        loop = asyncio.new_event_loop()
        own = channel_layers.make_backend("default")
        _paced(
            rate,
            seconds,
            lambda t: loop.run_until_complete(own.group_send(group, {"type": "bench", "t": t})),
        )
        loop.close()

    tasks = [asyncio.create_task(receive(i)) for i in range(receivers)]
    await asyncio.to_thread(send)
    await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await layer.group_discard(group, channel)
    return arrivals


class _FeedReceiver:
    """A socket as the feed sees it, whose writes only note the time."""

    def __init__(self, arrivals: list[float]) -> None:
        from approvals.realtime.feed import Outbox

        self.arrivals = arrivals
        self.sent_at: list[float] = []
        self.outbox = Outbox(self._write, on_overflow=None)

    async def _write(self, frame: str) -> None:
        self.arrivals.append(time.time() - self.sent_at.pop(0))

    def feed_event(self, event: dict, frames) -> None:
        self.sent_at.append(event["t"])
        self.outbox.put(frames.frame("bench", lambda: event))

    async def feed_lost(self) -> None:
        pass


async def _feed_fanout(receivers: int, rate: float, seconds: float) -> list[list[float]]:
    """`receivers` sockets of this process in one group of a feed (`approvals.realtime.feed`, on
    a subscriber of its own); a sender thread publishes with `publish.group_send` at `rate`, as
    services do after commit."""
    from approvals.realtime import publish
    from approvals.realtime.feed import Feed
    from approvals.realtime.subscriber import Subscriber

    feed = Feed(Subscriber())
    group = f"bench.feed.{time.time_ns()}"
    arrivals: list[list[float]] = [[] for _ in range(receivers)]
    members = [_FeedReceiver(arrivals[i]) for i in range(receivers)]
    for member in members:
        await feed.join(member, (group,))
    await asyncio.to_thread(
        _paced, rate, seconds, lambda t: publish.group_send(group, {"type": "bench", "t": t})
    )
    await asyncio.sleep(1.0)
    await feed.close()
    return arrivals


def bench_transport(args) -> None:
    """The floor under 2 for each transport: one event to `--dashboards` sockets of one process,
    with no rendering and no database, and the CPU this process spent per delivered pair."""
    print(
        f"\n4. the transport alone: {args.rate}/s for {args.seconds} s from a thread to N "
        f"receivers of one process (no rendering, no database)"
    )
    print(
        f"{'transport':>14} {'receivers':>9} {'pairs':>7} {'missed':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'cpu us/pair':>11}"
    )
    runs = {"channel layer": _layer_fanout, "feed": _feed_fanout}
    for name, run in runs.items():
        for receivers in (1, args.dashboards):
            cpu = time.process_time()
            arrivals = asyncio.run(
                run(receivers, args.rate, args.seconds), loop_factory=uvloop.new_event_loop
            )
            cpu = time.process_time() - cpu
            expected = int(args.rate * args.seconds) * receivers
            lat = [t * 1000 for seen in arrivals for t in seen if t <= args.deadline]
            print(
                f"{name:>14} {receivers:>9} {expected:>7} {expected - len(lat):>7} "
                f"{pct(lat or [float('nan')], 50):>8.1f} {pct(lat or [float('nan')], 99):>8.1f} "
                f"{cpu * 1e6 / max(1, len(lat)):>11.0f}",
                flush=True,
            )


# ---------------------------------------------------------------------------------------------
# the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log",
         "--log-level", "warning", "--ws-per-message-deflate", "false"],
        cwd=ROOT, env={**os.environ},
    )  # fmt: skip
    wait_listening(proc, port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def clear_channel_layer(prefix: str) -> None:
    """Delete this run's channel-layer keys (group memberships expire only after a day)."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100, help="submissions per second")
    parser.add_argument("--seconds", type=float, default=20, help="of submitting, per phase")
    parser.add_argument("--requests", type=int, default=200, help="measured page loads per size")
    parser.add_argument("--warmup", type=int, default=10, help="page loads before measuring")
    parser.add_argument("--deadline", type=float, default=5.0, help="s before a pair is missed")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--submit-via", choices=("service", "http"), default="service")
    parser.add_argument(
        "--submitters", type=int, default=2, help="processes sharing the submission schedule"
    )
    parser.add_argument("--skip-page", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-layer", action="store_true")
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="countersign_dashboard_bench")
    parser.add_argument("--prefix", default="countersign-dashboard-bench",
                        help="channel-layer prefix and Celery queue of this run")  # fmt: skip
    parser.add_argument("--keep-db", action="store_true")
    # the submitter child process
    parser.add_argument("--_submitter", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="", help=argparse.SUPPRESS)
    parser.add_argument("--base", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._submitter:
        submitter_main(args)
        return

    os.environ.update(bench_env(args))
    # whitenoise's note that `collectstatic` never ran here; pages are served all the same
    warnings.filterwarnings("ignore", message="No directory at")
    # Ctrl-C and a plain kill both unwind through the `finally` below.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    print(f"preparing database {args.database} ...", flush=True)
    fresh_database(args.server, args.database)
    proc = None
    try:
        django_setup()
        cookie, key = prepare()
        port = free_port()
        proc = start_server(port, args.workers)
        base = f"http://127.0.0.1:{port}"
        print(
            f"uvicorn ({args.workers} worker(s)) on :{port}; python {sys.version.split()[0]}, "
            f"cpus={os.cpu_count()}; setup took {time.monotonic() - started:.1f} s",
            flush=True,
        )
        if not args.skip_page:
            bench_page(args, base, cookie)
        else:
            seed_pending(args.pending)
        if not args.skip_fanout:
            bench_fanout(args, base, cookie, key, proc.pid)
        bench_row_render()
        if not args.skip_layer:
            bench_transport(args)
    finally:
        if proc is not None:
            stop(proc)
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        if not args.keep_db:
            drop_database(args.server, args.database)
            clear_channel_layer(args.prefix)
    print(f"\ntotal {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()

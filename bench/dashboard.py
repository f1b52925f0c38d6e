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

Sections 2 and 4 live in `dashboard_fanout.py` and `dashboard_transport.py`; this script sets up,
runs every section and holds 1 and 3.

The submitters call the service in their own processes rather than POSTing to the API, so that
the rate they keep does not depend on how busy the one server process is with the fan-out it
measures (`--submit-via http` POSTs to `/api/v1/actions/` instead); one process could not keep
100/s on two shared cores. Figures only: nothing here passes or fails on speed. The database and
this run's channel-layer keys are dropped at the end unless `--keep-db`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from common import drop_database, fresh_database, pct, ratio, stop, wait_listening
from dashboard_fanout import AGENT, bench_fanout, django_setup, submitter_main
from dashboard_transport import bench_transport

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

SUPERVISOR = "bench-supervisor"
PASSWORD = "correct-horse-battery-staple"
BASELINE_PENDING = 1000


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

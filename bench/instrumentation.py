"""What the instrumentation costs: requests per second and CPU per request of a cheap API read and
of the submit API, with the observability middleware (request id, JSON request log line, latency
histogram) on and off, in one process, in the same run; then how long a /metrics scrape takes.

    .venv/bin/python bench/instrumentation.py [--requests 1000] [--rounds 3] [--scrape-rows 0]

Creates a fresh database (`countersign_instrumentation_bench`), migrates it and loads the demo;
requests go through Django's test client (no server, no network: what is left is the app's own
work). "off" is the same settings without `config.observability.ObservabilityMiddleware`; "on"
logs each request as a JSON line to a file (a real write per request, as to a container's log).
Rounds alternate the order of on and off; medians are printed with the on/off ratio.
`--scrape-rows N` first adds N actions, N callback deliveries and N audit events (bulk, shaped
like real ones) and times the scrape at that size, the audit counters' first count and the next.
Figures only; nothing passes or fails. The machine may be shared: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIDDLEWARE_PATH = "config.observability.ObservabilityMiddleware"


def django_setup(server: str, database: str, log_file: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"{server.replace('postgresql://', 'postgres://')}/{database}",
        DEBUG="0",
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        REQUEST_LOG="true",
        API_RATE_LIMIT="",  # the limit would refuse a benchmark's burst
        AXES_LOG_LEVEL="WARNING",
    )
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    for handler in logging.getLogger().handlers:
        handler.setStream(open(log_file, "a"))  # noqa: SIM115


def clients(key: str):
    """(off, on): test clients whose middleware chains were built without and with ours."""
    from django.conf import settings
    from django.test import Client, override_settings

    made = {}
    without = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    for name, middleware in (("off", without), ("on", list(settings.MIDDLEWARE))):
        with override_settings(MIDDLEWARE=middleware):
            client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
            client.get("/api/v1/reason-codes/")  # builds the chain under these settings
        made[name] = client
    return made["off"], made["on"]


def run(client, kind: str, n: int, start: int) -> tuple[float, float]:
    """(requests per second, CPU µs per request) of n requests of `kind`."""
    from tests.approvals.conftest import refund_params

    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(start, start + n):
        if kind == "read":
            response = client.get("/api/v1/reason-codes/")
            expected = 200
        else:
            response = client.post(
                "/api/v1/actions/",
                {"action_type": "refund.issue", "params": refund_params(6000 + i % 900)},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"bench-{i}",
            )
            expected = 201
        if response.status_code != expected:
            raise SystemExit(f"{kind}: {response.status_code} {response.content[:300]!r}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1e6


def middleware_alone(n: int) -> tuple[float, float, float]:
    """CPU µs per request around a view that returns at once: the bare view, with the middleware
    without its log line (REQUEST_LOG=false), with it. Its own cost, apart from the noise of
    whole requests."""
    from django.http import HttpResponse
    from django.test import RequestFactory, override_settings
    from django.urls import resolve

    from config.observability import ObservabilityMiddleware

    response = HttpResponse(b"ok")
    match = resolve("/api/v1/reason-codes/")

    def view(request):
        request.resolver_match = match
        return response

    request = RequestFactory().get("/api/v1/reason-codes/", HTTP_X_REQUEST_ID="bench-id")
    with override_settings(REQUEST_LOG=False):
        unlogged = ObservabilityMiddleware(view)
    timings = []
    for handler in (view, unlogged, ObservabilityMiddleware(view)):
        cpu = time.process_time()
        for _ in range(n):
            handler(request)
        timings.append((time.process_time() - cpu) / n * 1e6)
    return timings[0], timings[1], timings[2]


def seed(rows: int) -> None:
    from django.db import connection

    from agents.models import Agent
    from policies.models import ActionType

    agent, refund = Agent.objects.order_by("id").first(), ActionType.objects.get(key="refund.issue")
    statuses = "ARRAY['pending','succeeded','succeeded','rolled_back','failed','rejected','escalated','expired']"  # noqa: E501
    verbs = "ARRAY['action.submitted','action.approved','action.succeeded','action.expired','callback.failed','action.rolled_back']"  # noqa: E501
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO approvals_action (id, agent_id, action_type_id, status, version, params,
                context, intent, callback_url, amount, currency, order_ref, request_hash, mode,
                rule_name, explanation, approvals_required, approver_role, queue, priority,
                sla_due_at, attempts, lease_owner, created_at, updated_at)
            SELECT gen_random_uuid(), %s, %s, ({statuses})[1 + i %% 8], 1, '{{}}'::jsonb,
                '{{}}'::jsonb, 'execute', '', i %% 100000, 'USD', 'ORD-1001', '', 'execute_gated',
                'bench', 'bench', 1, 'supervisor', (ARRAY['Refunds','','Escalations'])[1 + i %% 3],
                20, now() + make_interval(secs => i %% 600), 0, '', now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [agent.pk, refund.pk, rows],
        )
        cursor.execute(
            """
            INSERT INTO approvals_callbackdelivery (action_id, event, payload, status, attempts,
                next_attempt_at, last_error, created_at)
            SELECT id, 'action.succeeded', '{"status": "succeeded"}'::jsonb,
                (ARRAY['delivered','delivered','failed','pending'])[1 + (random() * 3)::int], 1,
                now(), '', now()
            FROM approvals_action LIMIT %s
            """,
            [rows],
        )
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_auditevent")
        (head,) = cursor.fetchone()
        cursor.execute(
            f"""
            INSERT INTO audit_auditevent (seq, occurred_at, actor_kind, actor_id, verb,
                object_type, object_id, data, request_id, prev_hash, hash)
            SELECT %s + i, now(), 'system', 'sla', ({verbs})[1 + i %% 6], 'action', i::text,
                '{{"status": "pending"}}'::jsonb, '', md5(i::text), md5('h' || i::text)
            FROM generate_series(1, %s) AS i
            """,
            [head, rows],
        )
        cursor.execute("ANALYZE")


def time_scrape(client, label: str) -> None:
    started = time.perf_counter()
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    print(f"  /metrics {label}: {(time.perf_counter() - started) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scrape-rows", type=int, default=0)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="countersign_instrumentation_bench")
    args = parser.parse_args()
    fresh_database(args.server, args.database)
    log_fd, log_path = tempfile.mkstemp(prefix="instrumentation-", suffix=".log")
    os.close(log_fd)
    try:
        django_setup(args.server, args.database, log_path)
        from agents.services import agent_create

        key = agent_create(name="bench-bot").key
        off, on = clients(key)
        figures = {(kind, name): [] for kind in ("read", "submit") for name in ("off", "on")}
        counter = 0
        for round_ in range(args.rounds):
            order = (("off", off), ("on", on)) if round_ % 2 == 0 else (("on", on), ("off", off))
            for kind in ("read", "submit"):
                for name, client in order:
                    figures[kind, name].append(run(client, kind, args.requests, counter))
                    counter += args.requests
        print(f"{args.requests} requests x {args.rounds} rounds per figure (medians; test client,"
              " one process)")  # fmt: skip
        for kind, label in (
            ("read", "GET /api/v1/reason-codes/"),
            ("submit", "POST /api/v1/actions/"),
        ):
            rps = {n: statistics.median(r for r, _ in figures[kind, n]) for n in ("off", "on")}
            cpu = {n: statistics.median(c for _, c in figures[kind, n]) for n in ("off", "on")}
            print(f"{label}: off {rps['off']:.0f} req/s, {cpu['off']:.0f} µs CPU/req; "
                  f"on {rps['on']:.0f} req/s, {cpu['on']:.0f} µs CPU/req; "
                  f"throughput on/off x{rps['on'] / rps['off']:.3f}, "
                  f"CPU on/off x{cpu['on'] / cpu['off']:.3f} "
                  f"({cpu['on'] - cpu['off']:+.0f} µs)")  # fmt: skip
        bare, unlogged, logged = middleware_alone(20 * args.requests)
        print(f"the middleware alone, µs CPU per request: id and histogram {unlogged - bare:.1f}; "
              f"with the JSON log line (redacted, written) {logged - bare:.1f}")  # fmt: skip
        print(f"log lines written: {sum(1 for _ in open(log_path))}")  # noqa: SIM115
        from django.test import Client

        scraper = Client()
        time_scrape(scraper, "after the run")
        if args.scrape_rows:
            seed(args.scrape_rows)
            print(f"seeded {args.scrape_rows} actions, callback deliveries and audit events")
            time_scrape(scraper, "first (audit counters counted from the start)")
            time_scrape(scraper, "next (audit counters from the cache)")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.server, args.database)
        os.unlink(log_path)


if __name__ == "__main__":
    main()

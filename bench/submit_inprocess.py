"""One submission in-process: queries and CPU per `POST /api/v1/actions/`, against a baseline.

    .venv/bin/python bench/submit_inprocess.py [--n 400] [--rounds 3] [--profile] [--queries]

Creates a fresh database (`countersign_submit_bench`), migrates it, loads the demo and creates the
agent `support-bot`, then measures in one run, through Django's test client in this process (the
whole middleware stack, DRF, no network):

- the baseline: a minimal DRF APIView mounted by this script that parses the same ~1 KB body and
  inserts two rows in one transaction (no authentication, no throttling), answering 201 with a
  small JSON body;
- Countersign's submit: a gated 120.00 USD refund of ~1 KB (params and context) with a fresh
  `Idempotency-Key` per request, authenticated by API key, its on-commit work (the dashboard push
  to Redis, the waiters' event) run in the request as in production.

For each: SQL queries per request (counted on the connection), and CPU milliseconds per request
(`time.process_time` over `--n` requests, in `--rounds` alternating rounds after a warm-up; the
median round is printed), and the ratio submit / baseline. `--profile` prints cProfile's top 20
(by cumulative time) of the submissions. Figures only: nothing here passes or fails. The machine
is shared: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

from common import django_demo_setup, drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT = "support-bot"
BASELINE_PATH = "/bench/baseline/"
SUBMIT_PATH = "/api/v1/actions/"
CONTEXT = {
    "sentiment": "calm",
    "customer_tier": "gold",
    "agent_confidence": 0.93,
    "payment_failed": False,
    "open_invoices": 0,
    "conversation_id": "conv-7f3a9c2e-1b44-4d7e-9a51-0c2f6e8d1b77",
    "channel": "chat",
    "summary": (
        "Customer reports the blender arrived with a cracked jar; photos attached in the ticket. "
        "Replacement is out of stock until next month and the customer prefers a refund of the "
        "jar's price plus shipping. Order is within the 30-day window and the payment settled."
    ),
    "transcript_tail": [
        "customer: the jar was cracked when I opened the box",
        "agent: I am sorry to hear that, let me check the order",
        "customer: I would rather have my money back than wait a month",
        "agent: I will request a refund of 120.00 USD for you now",
    ],
}
REASON = "Damaged on arrival (cracked jar), replacement out of stock; customer asked for a refund."

urlpatterns: list = []  # filled by `mount_baseline`: this module is the bench's ROOT_URLCONF


def body(i: int) -> dict:
    params = {"order_id": "ORD-1001", "amount": 12000, "currency": "USD", "reason": REASON}
    return {"action_type": "refund.issue", "params": params, "context": {**CONTEXT, "turn": i}}


def mount_baseline() -> None:
    """The baseline view, and this module as the URLconf: the baseline, then the project's."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.urls import path
    from rest_framework.permissions import AllowAny
    from rest_framework.response import Response
    from rest_framework.views import APIView

    import config.urls

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_item (id bigserial PRIMARY KEY, "
            "created_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL)"
        )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_event (id bigserial PRIMARY KEY, "
            "item_id bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
            "body jsonb NOT NULL)"
        )

    class Baseline(APIView):
        authentication_classes: list = []
        permission_classes = [AllowAny]
        throttle_classes: list = []

        def post(self, request):
            import json

            data = json.dumps(request.data)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_item (body) VALUES (%s) RETURNING id", [data])
                (item_id,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO bench_event (item_id, body) VALUES (%s, %s)", [item_id, data]
                )
            return Response({"id": item_id, "status": "created"}, status=201)

    urlpatterns[:] = [path(BASELINE_PATH.strip("/") + "/", Baseline.as_view()),
                      *config.urls.urlpatterns]  # fmt: skip
    settings.ROOT_URLCONF = __name__
    from django.urls import clear_url_caches

    clear_url_caches()


def clients():
    from rest_framework.test import APIClient

    from agents.services import agent_create

    key = agent_create(name=AGENT).key
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return APIClient(), agent


def make_calls(baseline_client, agent_client):
    run = time.time_ns()
    counter = iter(range(10**9))

    def baseline() -> None:
        response = baseline_client.post(BASELINE_PATH, body(next(counter)), format="json")
        assert response.status_code == 201, response.content

    def submit() -> None:
        i = next(counter)
        response = agent_client.post(
            SUBMIT_PATH, body(i), format="json", HTTP_IDEMPOTENCY_KEY=f"{run}-{i}"
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "pending", response.content

    return baseline, submit


def queries_of(call, *, show: bool = False) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    if show:
        for query in captured.captured_queries:
            print(f"  {query['sql'][:160]}")
    return len(captured.captured_queries)


def cpu_ms(call, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="requests per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile top 20 of submissions")
    parser.add_argument("--top", type=int, default=20, help="rows of the profile")
    parser.add_argument("--queries", action="store_true", help="print one submission's SQL")
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="countersign_submit_bench")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    print(f"preparing database {args.database} ...", flush=True)
    fresh_database(args.server, args.database)
    try:
        django_demo_setup(args.server, args.database, "submit")
        mount_baseline()
        baseline, submit = make_calls(*clients())
        for _ in range(50):  # warm-up: compile the policy, fill caches, open connections
            baseline()
            submit()
        queries = {
            "baseline": queries_of(baseline, show=args.queries),
            "submit": queries_of(submit, show=args.queries),
        }
        cpu: dict[str, list[float]] = {"baseline": [], "submit": []}
        for r in range(args.rounds):
            order = (("baseline", baseline), ("submit", submit))
            for name, call in order[:: 1 if r % 2 == 0 else -1]:
                cpu[name].append(cpu_ms(call, args.n))
        profile_stats = None
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, as measured above
            profiler.enable()
            for _ in range(args.n):
                submit()
            profiler.disable()
            profile_stats = pstats.Stats(profiler)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(args.server, args.database)

    print(f"\nsubmit in-process: {args.n} requests x {args.rounds} alternating rounds per kind, "
          f"python {sys.version.split()[0]}, cpus={os.cpu_count()}")  # fmt: skip
    print(f"{'request':<44} {'queries':>8} {'CPU ms/req':>11} {'rounds':>24}")
    labels = {
        "baseline": "baseline: DRF APIView, two inserts",
        "submit": "POST /api/v1/actions/ (gated refund)",
    }
    for name, label in labels.items():
        rounds = " ".join(f"{v:.2f}" for v in cpu[name])
        print(f"{label:<44} {queries[name]:>8} {statistics.median(cpu[name]):>11.2f} "
              f"{rounds:>24}")  # fmt: skip
    base, mine = statistics.median(cpu["baseline"]), statistics.median(cpu["submit"])
    print(f"submit / baseline: CPU x{mine / base:.2f}, queries "
          f"{queries['submit']} vs {queries['baseline']}")  # fmt: skip
    if profile_stats is not None:
        print(f"\ncProfile of {args.n} submissions (CPU time), top {args.top} by cumulative:")
        profile_stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()

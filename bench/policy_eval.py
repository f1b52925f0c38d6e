"""Policy evaluation speed: one decision on a 200-rule policy, and its share of a submission.

    .venv/bin/python bench/policy_eval.py [--rules 200] [--decisions 20000] [--requests 600]

Creates a fresh database (`countersign_policy_bench`), migrates it, loads the demo catalog and
creates the agent `support-bot`, then measures in one run:

1. `decide()` on a realistic policy of N rules (exact types and globs, agent lists, CEL
   conditions over params and context, a few over derived values) whose matching rule is second to
   last, so nearly every rule that applies to the action type is evaluated: decisions per second,
   p50 and p99 of one decision (goal: p99 under 1 ms). The same for the same rules with the
   matching one moved first, and the time to compile the version.
2. `POST /api/v1/actions/` through Django's in-process test client (the whole middleware, DRF,
   authentication, idempotency, two inserts, the on-commit push) with the N-rule policy active,
   and with the same rules but the matching one first, alternating in rounds so drift hits both
   alike; prints p50/p99 of each and the ratio (goal: evaluation adds under 10 %).

Figures only: nothing here passes or fails on speed. Runs single-threaded on purpose: a decision
is CPU work in one request's thread.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

from common import django_demo_setup, drop_database, fresh_database, pct

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT = "support-bot"
CONTEXT = {
    "sentiment": "calm",
    "customer_tier": "gold",
    "fraud_score": 12,
    "open_invoices": 0,
    "agent_confidence": 0.93,
    "payment_failed": False,
}
OTHER_AGENTS = ["billing-bot", "returns-bot", "retention-bot", "triage-bot", "vip-desk-bot"]
OTHER_TYPES = ["order.cancel", "address.change", "credentials.reset", "account.delete", "order.*"]
# Conditions that are false for the measured refund (its context is CONTEXT, its amount 120.00
# USD): each is evaluated, none matches, none errors (an error would stop the walk early).
FALSE_CONDITIONS = [
    "params.amount > {big}",
    "params.currency == 'EUR' && params.amount > {small}",
    "context.sentiment == 'angry'",
    "has(context.fraud_score) && context.fraud_score > {score}",
    "params.order_id.startsWith('VIP-')",
    "context.customer_tier == 'platinum' && params.amount > {small}",
    "params.reason.contains('chargeback')",
    "params.amount in [{small}, {big}]",
    "context.open_invoices > 3 || context.agent_confidence < 0.5",
    "size(params.reason) > 400",
]


def refund(i: int = 0) -> dict:
    # Over the 50.00 limit and under 500.00: gated by the matching rule, so nothing is enqueued.
    return {"order_id": "ORD-1001", "amount": 12000 + i % 97, "currency": "USD", "reason": "bench"}


def realistic_rules(n: int, *, match_first: bool, seed: int = 7) -> list[dict]:
    """N rules; about two thirds apply to refund.issue (exact, `refund.*`, `*`), the rest to
    other types. The rule that matches the measured refund is second to last (or first)."""
    rng = random.Random(seed)
    rules: list[dict] = []
    for i in range(n - 2):
        kind = rng.random()
        if kind < 0.35:
            action_type = "refund.issue"
        elif kind < 0.55:
            action_type = "refund.*"
        elif kind < 0.65:
            action_type = "*"
        else:
            action_type = rng.choice(OTHER_TYPES)
        spec = {
            "name": f"rule-{i:03d}",
            "action_type": action_type,
            "mode": rng.choice(["escalate", "execute_gated", "forbidden", "recommend_only"]),
            "condition": rng.choice(FALSE_CONDITIONS).format(
                big=rng.randint(500_000, 9_000_000),
                small=rng.randint(1, 5000),
                score=rng.randint(60, 95),
            ),
        }
        if rng.random() < 0.3:
            # Agent lists without the measured agent: the rule is skipped before its condition.
            spec["agents"] = rng.sample(OTHER_AGENTS, rng.randint(1, 3))
        if action_type in ("order.cancel", "credentials.reset") and rng.random() < 0.5:
            spec["condition"] = (
                "has(derived.customer_refunds_24h) && derived.customer_refunds_24h >= 3"
            )
        rules.append(spec)
    matching = {
        "name": "refund-over-50-needs-approval",
        "action_type": "refund.issue",
        "agents": [AGENT, "billing-bot"],
        "condition": "params.amount > 5000 && context.sentiment != 'angry'",
        "mode": "execute_gated",
        "queue": "Refunds",
        "explanation": "refund {amount} > 50.00 limit for agent `{agent}`: needs 1 approval",
    }
    fallback = {"name": "everything-else-gated", "action_type": "*", "mode": "execute_gated"}
    if match_first:
        return [matching, *rules, fallback]
    return [*rules, matching, fallback]


# ---------------------------------------------------------------------------------------------
# setup


def publish(rules: list[dict], note: str):
    from audit.services import Actor
    from policies.services import policy_publish

    return policy_publish(rules=rules, note=note, actor=Actor.system("bench"))


# ---------------------------------------------------------------------------------------------
# 1. the engine alone


def bench_engine(rules: int, decisions: int) -> None:
    from policies.engine import CompiledPolicy, compiled_policy, decide
    from policies.models import ActionType

    action_type = ActionType.objects.get(key="refund.issue")
    print(f"\n1. decide() alone, {decisions} decisions each, agent `{AGENT}`, refund.issue")
    print(f"{'policy':<40} {'decisions/s':>12} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}")
    for label, match_first in ((f"{rules} rules, match at {rules - 1}", False),
                               (f"{rules} rules, match at 1", True)):  # fmt: skip
        version = publish(realistic_rules(rules, match_first=match_first), label)
        started = time.perf_counter()
        policy = CompiledPolicy(version, list(version.rules.order_by("position", "id")))
        compile_ms = (time.perf_counter() - started) * 1000
        policy = compiled_policy(version)
        params = [refund(i) for i in range(97)]
        for i in range(500):  # warm-up
            decide(policy=policy, action_type=action_type, agent_name=AGENT,
                   params=params[i % 97], context=CONTEXT)  # fmt: skip
        samples = []
        clock = time.perf_counter_ns
        wall = time.perf_counter()
        for i in range(decisions):
            t0 = clock()
            decision = decide(policy=policy, action_type=action_type, agent_name=AGENT,
                              params=params[i % 97], context=CONTEXT)  # fmt: skip
            samples.append((clock() - t0) / 1000)
        wall = time.perf_counter() - wall
        assert decision.rule_name == "refund-over-50-needs-approval", decision
        print(
            f"{label:<40} {decisions / wall:>12,.0f} {pct(samples, 50):>8.1f} "
            f"{pct(samples, 99):>8.1f} {max(samples):>8.1f}"
        )
        applicable = sum(
            1 for r in version.rules.all() if _glob_matches(r.action_type, "refund.issue")
        )
        walked = len(policy.candidates("refund.issue", AGENT))
        print(f"{'':<40} compile {compile_ms:.1f} ms; {applicable} of {rules} rules apply to "
              f"refund.issue, {walked} of them to `{AGENT}`")  # fmt: skip


def _glob_matches(pattern: str, key: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(key, pattern)


# ---------------------------------------------------------------------------------------------
# 2. the submit endpoint


def bench_submit(rules: int, requests: int, rounds: int) -> None:
    from rest_framework.test import APIClient

    import policies.selectors
    from agents.services import agent_create

    key = agent_create(name=AGENT).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    # Time spent in decide() during each request, to tell evaluation from everything else.
    decide_ns: list[int] = []
    real_decide = policies.selectors.decide

    def timed_decide(**kwargs):
        t0 = time.perf_counter_ns()
        try:
            return real_decide(**kwargs)
        finally:
            decide_ns.append(time.perf_counter_ns() - t0)

    policies.selectors.decide = timed_decide

    run = time.time_ns()
    counter = iter(range(10**9))

    def submit() -> float:
        i = next(counter)
        t0 = time.perf_counter()
        response = client.post(
            "/api/v1/actions/",
            {"action_type": "refund.issue", "params": refund(i), "context": CONTEXT},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"{run}-{i}",
        )
        elapsed = time.perf_counter() - t0
        assert response.status_code == 201, response.content
        assert response.json()["decision"]["rule"] == "refund-over-50-needs-approval"
        return elapsed * 1000

    late = realistic_rules(rules, match_first=False)
    early = realistic_rules(rules, match_first=True)
    results: dict[str, list[float]] = {"late": [], "early": []}
    decide_us: dict[str, list[float]] = {"late": [], "early": []}
    per_round = max(1, requests // rounds)
    print(
        f"\n2. POST /api/v1/actions/ in-process, {per_round * rounds} requests per policy in "
        f"{rounds} alternating rounds"
    )
    for r in range(rounds):
        for name, spec in (("late", late), ("early", early))[:: 1 if r % 2 == 0 else -1]:
            publish(spec, f"bench {name} round {r}")
            for _ in range(30):  # warm-up: compile the new version, fill caches
                submit()
            decide_ns.clear()
            results[name] += [submit() for _ in range(per_round)]
            decide_us[name] += [ns / 1000 for ns in decide_ns]

    print(f"{'policy':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'decide p50 µs':>14}")
    for name, label in (("late", f"{rules} rules, match at {rules - 1}"),
                        ("early", f"{rules} rules, match at 1")):  # fmt: skip
        lat = results[name]
        print(
            f"{label:<40} {len(lat) / (sum(lat) / 1000):>8.1f} {pct(lat, 50):>8.2f} "
            f"{pct(lat, 99):>8.2f} {pct(decide_us[name], 50):>14.1f}"
        )
    late_lat, early_lat = results["late"], results["early"]
    print(
        f"\nsubmit, match at {rules - 1} vs match at 1: "
        f"p50 x{pct(late_lat, 50) / pct(early_lat, 50):.3f}, "
        f"mean x{statistics.fmean(late_lat) / statistics.fmean(early_lat):.3f}, "
        f"p99 x{pct(late_lat, 99) / pct(early_lat, 99):.3f}"
    )
    share = statistics.fmean(decide_us["late"]) / 1000 / statistics.fmean(late_lat)
    print(f"decide() is {share:.1%} of a submission's time with the {rules}-rule walk")
    policies.selectors.decide = real_decide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=600, help="per policy, all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--skip-submit", action="store_true")
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="countersign_policy_bench")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    print(f"preparing database {args.database} ...", flush=True)
    fresh_database(args.server, args.database)
    try:
        django_demo_setup(args.server, args.database, "policy")
        print(f"python {sys.version.split()[0]}, cpus={os.cpu_count()}")
        bench_engine(args.rules, args.decisions)
        if not args.skip_submit:
            bench_submit(args.rules, args.requests, args.rounds)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(args.server, args.database)


if __name__ == "__main__":
    main()

"""Audit verification speed: `verify_audit`'s pass over the whole chain, in events per second.

    .venv/bin/python bench/audit_verify.py [--events 200000] [--checkpoint-every 5000]

Creates a fresh database (`countersign_audit_bench`), migrates it, appends N events shaped like a
submission's (params, context, the policy's decision: about 600 bytes of JSON each) as one
chain, writes a signed checkpoint every `--checkpoint-every` events into a temporary directory,
then times `audit_verify` (the chain, its links, every hash recomputed, against the checkpoints).
Goal: at least 100,000 events a second on one core. Figures only; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_setup(server: str, database: str, checkpoints: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"{server.replace('postgresql://', 'postgres://')}/{database}",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        AUDIT_CHECKPOINT_DIR=checkpoints,
        AUDIT_SIGNING_KEY_FILE=str(Path(checkpoints) / "key.pem"),
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def event_data(i: int) -> dict:
    return {
        "action_type": "refund.issue",
        "params": {"order_id": f"ORD-{1000 + i % 500}", "amount": 1200 + i % 977,
                   "currency": "USD", "reason": "the parcel arrived damaged"},
        "context": {"sentiment": "calm", "customer_tier": "gold", "fraud_score": i % 100,
                    "agent_confidence": 0.93, "ticket": f"T-{i}"},
        "status": "pending",
        "decision": {"mode": "execute_gated", "rule_id": 7, "rule_name": "refund-over-50",
                     "approvals_required": 1, "approver_role": "supervisor",
                     "queue": "Refunds", "explanation": "refund 12.00 > 50.00 limit"},
    }  # fmt: skip


def append(n: int, checkpoint_every: int) -> None:
    """The chain as `audit_record` builds it, inserted in batches (the guard refuses only
    UPDATE, DELETE and TRUNCATE), with a checkpoint written at every `checkpoint_every`."""
    from audit.checkpoints import audit_checkpoint_write
    from audit.models import AuditEvent
    from audit.services import GENESIS_HASH, compute_hash

    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, batch = GENESIS_HASH, []
    for seq in range(1, n + 1):
        event = AuditEvent(
            seq=seq, occurred_at=start + timedelta(seconds=seq), actor_kind="agent",
            actor_id=str(seq % 7), verb="action.submitted", object_type="action",
            object_id=f"00000000-0000-0000-0000-{seq:012d}", data=event_data(seq),
            request_id=f"req-{seq}", prev_hash=prev,
        )  # fmt: skip
        event.hash = prev = compute_hash(event)
        batch.append(event)
        if len(batch) == 5000 or seq == n:
            AuditEvent.objects.bulk_create(batch)
            batch = []
        if seq % checkpoint_every == 0:
            audit_checkpoint_write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="countersign_audit_bench")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    fresh_database(args.server, args.database)
    try:
        with tempfile.TemporaryDirectory() as checkpoints:
            django_setup(args.server, args.database, checkpoints)
            from audit.checkpoints import audit_verify
            from audit.signing import signing_key_ensure

            signing_key_ensure()
            began = time.perf_counter()
            append(args.events, args.checkpoint_every)
            print(f"appended {args.events} events in {time.perf_counter() - began:.1f} s")
            for _ in range(args.rounds):
                began = time.perf_counter()
                report = audit_verify()
                took = time.perf_counter() - began
                assert report.ok, report
                print(
                    f"verified {report.checked} events against {report.checkpoints} checkpoints "
                    f"in {took:.2f} s: {report.checked / took:,.0f} events/s"
                )
    finally:
        if not args.keep_db:
            drop_database(args.server, args.database)


if __name__ == "__main__":
    main()

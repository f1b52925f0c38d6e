"""Audit log speed: `verify_audit`'s pass over the chain, and writers appending concurrently.

    .venv/bin/python bench/audit_verify.py [--events 200000] [--checkpoint-every 5000]
    .venv/bin/python bench/audit_verify.py --writers 8 --seconds 5 [--events 0]

Creates a fresh database (`countersign_audit_bench`) and migrates it.

Verify (unless `--events 0`): appends N events shaped like a submission's (params, context, the
policy's decision: about 600 bytes of JSON each) as `audit_record` writes them, unsealed, has the
sealer chain them (timed: sealing throughput) with a signed checkpoint every `--checkpoint-every`
events, then times `audit_verify` (every link, every hash recomputed, against the checkpoints)
against a baseline measured in the same run over the same rows: the same query's rows read
without hashing, and SHA-256 alone over the same bytes. Goal: at least 100,000 events a second.

Writers (`--writers N`): N processes each commit one event per transaction for `--seconds`,
first the old way (reimplemented here as the baseline: an advisory lock held through commit,
the last event read, the hash chained at insert, into a table of the old shape), then the new
way (`audit_record`: one INSERT), with a sealer running beside them as beat runs it; events/s of
each and the ratio. Figures only; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import drop_database, fresh_database, ratio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_setup(server: str, database: str, checkpoints: str, *, migrate: bool = True) -> None:
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
    if migrate:
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


# ------------------------------------------------------------------------------------- verify


def append(n: int, checkpoint_every: int) -> float:
    """N events as `audit_record` leaves them (unsealed), inserted in batches; the sealer chains
    them and a checkpoint is written every `checkpoint_every`. Seconds spent sealing."""
    from audit.chain import audit_seal
    from audit.checkpoints import audit_checkpoint_write
    from audit.models import AuditEvent

    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch, sealing = [], 0.0
    for i in range(1, n + 1):
        batch.append(
            AuditEvent(
                occurred_at=start + timedelta(seconds=i), actor_kind="agent",
                actor_id=str(i % 7), verb="action.submitted", object_type="action",
                object_id=f"00000000-0000-0000-0000-{i:012d}", data=event_data(i),
                request_id=f"req-{i}",
            )
        )  # fmt: skip
        if len(batch) == 5000 or i == n:
            AuditEvent.objects.bulk_create(batch)
            batch = []
        if i % checkpoint_every == 0 or i == n:
            began = time.perf_counter()
            audit_seal()
            sealing += time.perf_counter() - began
            audit_checkpoint_write()
    return sealing


def baselines() -> tuple[float, float]:
    """Seconds to read the lines verify reads without checking them, and to hash the same bytes
    alone (SHA-256 over what verify hashes, nothing else)."""
    from audit.chain import _chain_lines

    began = time.perf_counter()
    payloads = [line[65:-1] for line in _chain_lines(1, None)]
    read = time.perf_counter() - began
    sha256 = hashlib.sha256
    began = time.perf_counter()
    for payload in payloads:
        sha256(payload).hexdigest()
    return read, time.perf_counter() - began


def bench_verify(args) -> None:
    from audit.checkpoints import audit_verify
    from audit.signing import signing_key_ensure

    signing_key_ensure()
    began = time.perf_counter()
    sealing = append(args.events, args.checkpoint_every)
    took = time.perf_counter() - began
    print(f"appended {args.events} events in {took:.1f} s, of which sealing {sealing:.2f} s: "
          f"{args.events / sealing:,.0f} events sealed/s")  # fmt: skip
    for _ in range(args.rounds):
        began = time.perf_counter()
        report = audit_verify()
        took = time.perf_counter() - began
        assert report.ok, report
        read, hashing = baselines()
        print(
            f"verified {report.checked} events against {report.checkpoints} checkpoints in "
            f"{took:.2f} s: {report.checked / took:,.0f} events/s; the same lines read without "
            f"hashing {report.checked / read:,.0f}/s ({ratio(read, took)} of verify's time), "
            f"SHA-256 alone over the same bytes {report.checked / hashing:,.0f}/s "
            f"({ratio(hashing, took)})"
        )


# ------------------------------------------------------------------------------------ writers

OLD_TABLE = """
CREATE TABLE IF NOT EXISTS bench_locked_chain (
    seq bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, actor_kind varchar(16) NOT NULL,
    actor_id varchar(64) NOT NULL, verb varchar(64) NOT NULL, object_type varchar(64) NOT NULL,
    object_id varchar(64) NOT NULL, data jsonb NOT NULL, request_id varchar(64) NOT NULL,
    prev_hash varchar(64) NOT NULL, hash varchar(64) NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS bench_locked_chain_object ON bench_locked_chain
    (object_type, object_id, seq);
"""
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def _old_record(cursor, i: int) -> None:
    """What `audit_record` did before: lock held through commit, read the head, hash, insert."""
    from config import clock

    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x0C0A5161])
    cursor.execute("SELECT seq, hash FROM bench_locked_chain ORDER BY seq DESC LIMIT 1")
    head = cursor.fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, "0" * 64)
    data = json.loads(json.dumps(event_data(i)))
    content = {"seq": seq, "occurred_at": clock.now().isoformat(), "actor_kind": "agent",
               "actor_id": "1", "verb": "action.submitted", "object_type": "action",
               "object_id": str(i), "data": data, "request_id": "", "prev_hash": prev}  # fmt: skip
    digest = hashlib.sha256(_dumps(content).encode()).hexdigest()
    cursor.execute(
        "INSERT INTO bench_locked_chain VALUES (%s, %s, 'agent', '1', 'action.submitted', "
        "'action', %s, %s::jsonb, '', %s, %s)",
        [seq, clock.now(), str(i), json.dumps(data), prev, digest],
    )


def _writer(mode: str, server: str, database: str, checkpoints: str, seconds, ready, out) -> None:
    django_setup(server, database, checkpoints, migrate=False)
    from django.db import connection, transaction

    from audit.events import Verb
    from audit.services import Actor, audit_record

    connection.ensure_connection()
    ready.wait()
    until = time.time() + seconds
    done, i = 0, os.getpid() * 1_000_000
    while time.time() < until:
        i += 1
        with transaction.atomic():
            if mode == "old":
                with connection.cursor() as cursor:
                    _old_record(cursor, i)
            else:
                audit_record(actor=Actor.agent(1), verb=Verb.ACTION_SUBMITTED,
                             object_type="action", object_id=i, data=event_data(i))  # fmt: skip
        done += 1
    out.put(("writer", done))


def _sealer(server: str, database: str, checkpoints: str, seconds, ready, out) -> None:
    """Beat's `audit-seal`, as often as it takes: each run chains what committed since the last."""
    django_setup(server, database, checkpoints, migrate=False)
    from audit.chain import audit_seal

    ready.wait()
    until = time.time() + seconds
    runs = 0
    while time.time() < until + 1:
        audit_seal(wait=False)
        runs += 1
        time.sleep(0.05)
    out.put(("sealer", runs))


def run_writers(mode: str, args, checkpoints: str) -> float:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    ready = context.Barrier(args.writers + (mode == "new"))  # all set up, then all start
    common = (args.server, args.database, checkpoints, args.seconds, ready, out)
    procs = [context.Process(target=_writer, args=(mode, *common)) for _ in range(args.writers)]
    if mode == "new":
        procs.append(context.Process(target=_sealer, args=common))
    for proc in procs:
        proc.start()
    results = [out.get(timeout=args.seconds + 60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return sum(n for kind, n in results if kind == "writer") / args.seconds


def bench_writers(args, checkpoints: str) -> None:
    from django.db import connection

    from audit.chain import audit_seal, audit_verify_chain
    from audit.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute(OLD_TABLE)
    connection.close()
    old = run_writers("old", args, checkpoints)
    before = AuditEvent.objects.count()
    new = run_writers("new", args, checkpoints)
    audit_seal()
    report = audit_verify_chain()
    assert report.ok and report.checked == AuditEvent.objects.count(), report
    print(
        f"{args.writers} writers, one event per transaction, {args.seconds:g} s each way: "
        f"lock held through commit {old:,.0f} events/s; insert only, sealed after commit "
        f"{new:,.0f} events/s ({ratio(new, old)}); "
        f"{AuditEvent.objects.count() - before} new events sealed, the chain verifies"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=0, help="concurrent writer processes")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long writers write")
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
            if args.events:
                bench_verify(args)
            if args.writers:
                bench_writers(args, checkpoints)
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(args.server, args.database)


if __name__ == "__main__":
    main()

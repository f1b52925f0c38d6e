"""Writing to and verifying the audit chain. Imports no other Countersign app."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from audit.events import Verb
from audit.models import ActorKind, AuditEvent
from config import clock
from config.redaction import REDACTED, redact, redact_keys  # noqa: F401 (REDACTED: re-exported)

GENESIS_HASH = "0" * 64
# What an event keeps of its data: sensitive keys' values replaced, and card numbers (Luhn-checked),
# email addresses and phone numbers in any text masked (`config.redaction`, shared with callbacks
# and the logs). Params an action type marks `x-sensitive` are masked by the caller, which knows
# the schema (`approvals.services.kernel.params_on_record`).
# One constant key for pg_advisory_xact_lock: chain appends are serialized across all processes.
_CHAIN_LOCK_KEY = 0x0C0A5161


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str = ""

    @classmethod
    def user(cls, user_id: int | str) -> Actor:
        return cls(ActorKind.USER, str(user_id))

    @classmethod
    def agent(cls, agent_id: int | str) -> Actor:
        return cls(ActorKind.AGENT, str(agent_id))

    @classmethod
    def system(cls, name: str = "countersign") -> Actor:
        return cls(ActorKind.SYSTEM, name)


# The fields a hash covers, in the order `audit_verify_chain` reads them.
HASHED_FIELDS = ("seq", "occurred_at", "actor_kind", "actor_id", "verb", "object_type", "object_id",
           "data", "request_id", "prev_hash")  # fmt: skip
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=str, check_circular=False
).encode
_sha256 = hashlib.sha256


def hash_of(seq, occurred_at, actor_kind, actor_id, verb, object_type, object_id, data,
             request_id, prev_hash) -> str:  # fmt: skip
    payload = {
        "seq": seq,
        # An evidence pack holds the time as the ISO string the hash covered.
        "occurred_at": occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat(),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "verb": verb,
        "object_type": object_type,
        "object_id": object_id,
        "data": data,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    return _sha256(_dumps(payload).encode()).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    return hash_of(*(getattr(event, name) for name in HASHED_FIELDS))


def audit_record(
    *,
    actor: Actor,
    verb: Verb,
    object_type: str,
    object_id: Any,
    data: dict[str, Any] | None = None,
    request_id: str = "",
    verbatim: Iterable[str] = (),
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it records.

    `verbatim` names top-level keys of `data` whose text is kept as written (sensitive key names
    are still redacted): who people are and where messages go, which the log must show, not data
    about customers (a username or a notification address that is an email address)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    last = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
    # Round-trip through JSON so the hash is computed over exactly what the database stores.
    kept = {key: value for key, value in (data or {}).items() if key in verbatim}
    masked = redact({key: value for key, value in (data or {}).items() if key not in verbatim})
    clean = json.loads(json.dumps({**masked, **redact_keys(kept)}, default=str))
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=clock.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        verb=str(verb),
        object_type=object_type,
        object_id=str(object_id),
        data=clean,
        request_id=request_id or "",
        prev_hash=last.hash if last else GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    # The last event read (the head, when the whole chain verified).
    last_seq: int = 0
    last_hash: str = ""
    checkpoints: int = 0


def audit_verify_chain(
    *,
    batch_size: int = 5000,
    since_seq: int = 1,
    until_seq: int | None = None,
    checkpoints: Mapping[int, str] | None = None,
) -> ChainReport:
    """Recompute every hash in order from `since_seq`; report the first event that does not fit
    the chain or whose hash differs from the signed checkpoint (`checkpoints`: seq -> hash) at
    its seq. From a later `since_seq` the first event's link is not checked: a checkpoint at that
    seq vouches for it instead. One pass over plain rows: no model instances."""
    checkpoints = checkpoints or {}
    expected_prev = GENESIS_HASH if since_seq == 1 else None
    expected_seq, checked, last_hash = since_seq, 0, ""
    for row in _chain_rows(since_seq, until_seq, batch_size):
        seq, prev_hash, stored = row[0], row[9], row[10]
        if seq != expected_seq:
            problem = "missing event (gap in sequence)"
            return ChainReport(False, checked, expected_seq, problem, expected_seq - 1)
        if expected_prev is not None and prev_hash != expected_prev:
            return ChainReport(False, checked, seq, "previous hash does not match", seq)
        if hash_of(*row[:10]) != stored:
            return ChainReport(False, checked, seq, "content does not match its hash", seq)
        if seq in checkpoints and checkpoints[seq] != stored:
            problem = "rewritten: its hash differs from the signed checkpoint at this seq"
            return ChainReport(False, checked, seq, problem, seq)
        expected_prev, expected_seq, checked, last_hash = stored, seq + 1, checked + 1, stored
    return ChainReport(True, checked, last_seq=expected_seq - 1, last_hash=last_hash)


def _chain_rows(since_seq: int, until_seq: int | None, batch_size: int):
    """The hashed fields and the hash of every event from `since_seq` to `until_seq`, in order,
    as plain tuples from a server-side cursor: the ORM's converters cost more than the hashing."""
    columns = ", ".join(HASHED_FIELDS)
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.connection.cursor(name="audit_verify_chain")
        cursor.itersize = batch_size
        try:
            cursor.execute(
                f"SELECT {columns}, hash FROM audit_auditevent "  # noqa: S608 (constant columns)
                "WHERE seq >= %s AND seq <= %s ORDER BY seq",
                [since_seq, until_seq if until_seq is not None else 2**63 - 1],
            )
            loads = json.loads
            for row in cursor:
                # jsonb arrives as text (Django's loader); the hash covers the parsed value.
                yield (*row[:7], loads(row[7]) if isinstance(row[7], str) else row[7], *row[8:])
        finally:
            cursor.close()

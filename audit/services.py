"""Writing to and verifying the audit chain. Imports no other Countersign app."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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


def compute_hash(event: AuditEvent) -> str:
    payload = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "verb": event.verb,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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


def audit_verify_chain(*, batch_size: int = 2000) -> ChainReport:
    """Recompute every hash in order; report the first event that does not fit the chain."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    with transaction.atomic():
        events = AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size)
        for event in events:
            if event.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, "missing event (gap in sequence)")
            if event.prev_hash != expected_prev:
                return ChainReport(False, checked, event.seq, "previous hash does not match")
            if compute_hash(event) != event.hash:
                return ChainReport(False, checked, event.seq, "content does not match its hash")
            expected_prev, expected_seq, checked = event.hash, event.seq + 1, checked + 1
    return ChainReport(True, checked)

"""Writing to the audit log. Imports no other Countersign app.

An event is written by one INSERT in the transaction of the change it records, and chained later
by a sealer (`audit.chain`), so writers never wait for one another."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from audit.chain import (  # noqa: F401 (re-exported: where callers have always found them)
    GENESIS_HASH,
    ChainReport,
    audit_seal,
    audit_verify_chain,
    compute_hash,
)
from audit.events import Verb
from audit.models import ActorKind, AuditEvent
from config import clock
from config.redaction import REDACTED, redact, redact_keys  # noqa: F401 (REDACTED: re-exported)

# What an event keeps of its data: sensitive keys' values replaced, and card numbers (Luhn-checked),
# email addresses and phone numbers in any text masked (`config.redaction`, shared with callbacks
# and the logs). Params an action type marks `x-sensitive` are masked by the caller, which knows
# the schema (`approvals.services.kernel.params_on_record`).


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
    """Append one event to the log: one INSERT, no lock, no read. Must run inside the transaction
    of the change it records. The event has no `seq` or hash until a sealer chains it after
    commit (`audit.chain.audit_seal`: beat every `AUDIT_SEAL_INTERVAL_SECONDS`); its `id` orders
    it among the events before that.

    `verbatim` names top-level keys of `data` whose text is kept as written (sensitive key names
    are still redacted): who people are and where messages go, which the log must show, not data
    about customers (a username or a notification address that is an email address)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    # Round-trip through JSON so the event returned holds exactly what the database stores.
    kept = {key: value for key, value in (data or {}).items() if key in verbatim}
    masked = redact({key: value for key, value in (data or {}).items() if key not in verbatim})
    clean = json.loads(json.dumps({**masked, **redact_keys(kept)}, default=str))
    event = AuditEvent(
        occurred_at=clock.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        verb=str(verb),
        object_type=object_type,
        object_id=str(object_id),
        data=clean,
        request_id=request_id or "",
    )
    event.save(force_insert=True)
    return event

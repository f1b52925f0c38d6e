"""The audit log of an action (and of its cases) in plain words, worded per audit `Verb`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approvals import selectors
from approvals.models import Action
from approvals.param_rows import DiffRow, params_diff, shown
from audit.events import Verb
from audit.selectors import audit_events_for_objects

WORDS: Mapping[Verb, str] = {
    Verb.ACTION_SUBMITTED: "submitted it",
    Verb.ACTION_APPROVAL_RECORDED: "recorded an approval",
    Verb.ACTION_APPROVED: "approved it",
    Verb.ACTION_REJECTED: "rejected it",
    Verb.ACTION_CANCELLED: "withdrew it",
    Verb.ACTION_EDITED: "edited the params",
    Verb.ACTION_ADOPTED: "adopted it",
    Verb.ACTION_DISMISSED: "dismissed it",
    Verb.ACTION_EXECUTION_STARTED: "started executing it",
    Verb.ACTION_SUCCEEDED: "executed it successfully",
    Verb.ACTION_FAILED: "failed to execute it",
    Verb.ACTION_REQUEUED: "enqueued it again for execution",
    Verb.ACTION_EXECUTION_RECOVERED: "took over an attempt whose worker stopped answering",
    Verb.ACTION_EXECUTION_RETRIED: "tried executing it again",
    Verb.ACTION_RETRY_SCHEDULED: "scheduled another attempt after a transient failure",
    Verb.ACTION_EXECUTION_LEASE_LOST: "discarded a late outcome of an attempt taken over",
    Verb.ACTION_NEEDS_RECONCILIATION: "could not tell whether the target applied it",
    Verb.ACTION_RECONCILED: "recorded what the target did",
    Verb.ACTION_ESCALATED: "handed it to an escalation tier",
    Verb.ACTION_EXPIRED: "let it expire: nobody decided within the SLA",
    Verb.ACTION_CLAIMED: "claimed it for review",
    Verb.ACTION_CLAIM_TAKEN_OVER: "took over the review",
    Verb.ACTION_RELEASED: "released the review",
    Verb.ACTION_OUTCOME_REPORTED: "reported what happened afterwards",
    Verb.ACTION_ROLLBACK_REQUESTED: "asked to roll it back",
    Verb.ACTION_ROLLED_BACK: "rolled it back",
    Verb.ACTION_ROLLBACK_FAILED: "failed to roll it back",
    Verb.ESCALATION_OPENED: "opened the escalation case",
    Verb.ESCALATION_ACKNOWLEDGED: "acknowledged the case",
    Verb.ESCALATION_REASSIGNED: "reassigned the case",
    Verb.ESCALATION_TIER_MOVED: "moved the case to the next tier",
    Verb.ESCALATION_BREACHED: "marked the case breached at the last tier",
    Verb.ESCALATION_RESOLVED: "resolved the case",
}
# Keys of an event's data shown on their own lines, not among the other details.
_OWN_LINES = frozenset({"reason_code", "note", "before", "after", "reason", "params", "decision"})


@dataclass(frozen=True)
class LineageEntry:
    id: int  # the audit event's: its insertion order (its chain `seq` comes after commit)
    at: datetime
    actor: str
    actor_kind: str
    verb: str
    words: str
    reason_code: str = ""
    note: str = ""
    changes: Sequence[DiffRow] = ()
    details: Sequence[tuple[str, str]] = ()


def _actor(event, users: Mapping[str, str], agents: Mapping[str, str]) -> str:
    if event.actor_kind == "user":
        return users.get(event.actor_id, f"user #{event.actor_id}")
    if event.actor_kind == "agent":
        return agents.get(event.actor_id, f"agent #{event.actor_id}")
    return f"system ({event.actor_id})" if event.actor_id else "system"


def words(verb: str, data: Mapping[str, Any]) -> str:
    """What the event says happened; a verb with no words (an old or foreign event) as itself."""
    try:
        known = Verb(verb)
    except ValueError:
        return verb
    said = WORDS.get(known, verb)
    if known == Verb.ACTION_SUBMITTED and isinstance(data.get("decision"), dict):
        decision = data["decision"]
        said += f": the policy said {decision.get('mode', '?')} ({decision.get('rule_name', '')})"
    elif known == Verb.ACTION_APPROVAL_RECORDED and "approvals" in data:
        said += f" ({data.get('approvals')} of {data.get('required')})"
    elif known == Verb.ACTION_CLAIM_TAKEN_OVER and data.get("previous"):
        said += f" from {data['previous']}"
    elif known == Verb.ACTION_RELEASED and data.get("expired"):
        said = "let the review claim expire"
    elif known == Verb.ACTION_ESCALATED:
        said = _escalated(data)
    elif known == Verb.ESCALATION_OPENED:
        said = "recorded another cause on the open case" if data.get("again") else said
        said += f" in {data['tier']}" if data.get("tier") else ""
    elif known == Verb.ESCALATION_REASSIGNED and data.get("tier"):
        said += f" to {data['tier']}"
    elif known in (Verb.ESCALATION_TIER_MOVED, Verb.ESCALATION_BREACHED) and data.get("clock"):
        if data.get("tier") and known == Verb.ESCALATION_TIER_MOVED:
            said += f" ({data['tier']})"
        said += f": its {data['clock']} SLA passed"
    elif known == Verb.ESCALATION_RESOLVED and data.get("outcome"):
        said += f": {str(data['outcome']).replace('_', ' ')}"
    return said


def _escalated(data: Mapping[str, Any]) -> str:
    """Who or what sent the action to a tier, as far as the event says."""
    if "attempts" in data:
        return "handed it to a person after the attempts ran out"
    if data.get("by") == "agent":
        return "handed it to a person"
    if "reason_code" in data:
        return "escalated it" + (f" to {data['tier']}" if data.get("tier") else "")
    return WORDS[Verb.ACTION_ESCALATED]


def _details(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, shown(value)) for key, value in data.items() if key not in _OWN_LINES]


def lineage(action: Action) -> list[LineageEntry]:
    """Every audit event of the action in the order written (three queries: events, users,
    agents)."""
    return lineage_of(objects=[("action", str(action.pk))])


def lineage_of(*, objects: Iterable[tuple[str, str]]) -> list[LineageEntry]:
    """Every audit event of `objects` (`(object_type, object_id)` pairs: an action and its case)
    interleaved in the order written, in three queries."""
    events = list(audit_events_for_objects(objects=objects))
    users = selectors.usernames_by_id(
        user_ids=[e.actor_id for e in events if e.actor_kind == "user"]
    )
    agents = selectors.agent_names_by_id(
        agent_ids=[e.actor_id for e in events if e.actor_kind == "agent"]
    )
    entries = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        before, after = data.get("before"), data.get("after")
        changes = (
            params_diff(before, after)
            if isinstance(before, dict) and isinstance(after, dict)
            else []
        )
        note = data.get("note") or data.get("reason") or ""
        entries.append(
            LineageEntry(
                id=event.id,
                at=event.occurred_at,
                actor=_actor(event, users, agents),
                actor_kind=event.actor_kind,
                verb=event.verb,
                words=words(event.verb, data),
                reason_code=str(data.get("reason_code") or ""),
                note=shown(note),
                changes=[c for c in changes if c.changed],
                details=_details(data),
            )
        )
    return entries

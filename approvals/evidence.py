"""An action's evidence pack: the action, its decisions and its audit events with the checkpoint
that covers them, sealed by `audit.evidence` (see README, "Audit")."""

from __future__ import annotations

from typing import Any

from approvals import rulebook, selectors
from approvals.models import Action, Decision
from audit.evidence import evidence_seal
from audit.selectors import audit_events_for


def _action_record(action: Action) -> dict[str, Any]:
    return {
        "id": str(action.pk),
        "status": action.status,
        "version": action.version,
        "action_type": action.action_type.key,
        "agent": action.agent.name,
        "params": action.params,
        "final_params": action.final_params,
        "context": action.context,
        "intent": action.intent,
        "policy": {
            "mode": action.mode,
            "policy_version": action.policy_version.number if action.policy_version else None,
            "rule": action.rule_name,
            "explanation": action.explanation,
            "approvals_required": action.approvals_required,
            "approver_role": action.approver_role,
            "queue": action.queue,
        },
        "result": action.result,
        "error": action.error,
        "created_at": action.created_at,
        "decided_at": action.decided_at,
        "finished_at": action.finished_at,
    }


def _decision_record(decision: Decision) -> dict[str, Any]:
    return {
        "kind": decision.kind,
        "by": decision.by.get_username() if decision.by else None,
        "reason_code": decision.reason_code.code if decision.reason_code else None,
        "note": decision.note,
        "action_version": decision.action_version,
        "at": decision.created_at,
    }


def action_evidence(*, action_id: Any, user) -> bytes:
    """The sealed pack of one action, for whoever the rulebook lets have it."""
    action = selectors.action_get(action_id=action_id)
    decisions = selectors.action_decisions(action=action)
    rulebook.enforce(
        rulebook.may_get_evidence(
            rulebook.person_of(user), rulebook.facts_of(action, history=decisions)
        )
    )
    subject = {
        "kind": "action",
        "action": _action_record(action),
        "decisions": [_decision_record(d) for d in decisions],
    }
    events = list(audit_events_for(object_type="action", object_id=action.pk))
    return evidence_seal(subject=subject, events=events)

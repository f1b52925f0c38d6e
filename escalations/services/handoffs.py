"""An agent hands a case to people, with a summary, at its policy's tier or a higher one."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from approvals.handoff import Source
from approvals.services.escalated import action_hand_over
from approvals.services.kernel import escalation_tier_of
from approvals.services.kernel import lock as action_lock
from audit.services import Actor
from config.errors import Code, InvalidInput, NotFound
from escalations.models import Escalation
from escalations.services.kernel import tier_named
from escalations.services.opening import case_open, tier_for
from escalations.summary import FIELDS, LIMITS

REQUIRED = ("what_agent_did", "what_agent_proposes")


def _checked_summary(summary: Any) -> dict[str, str]:
    if not isinstance(summary, dict):
        raise InvalidInput("`summary` must be an object.", code=Code.INVALID_SUMMARY)
    unknown = sorted(set(summary) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"`summary` has unknown fields: {', '.join(unknown)}.",
                           code=Code.INVALID_SUMMARY, details={"fields": unknown})  # fmt: skip
    for field in FIELDS:
        value = summary.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > LIMITS[field]:
            raise InvalidInput(
                f"`summary.{field}` must be text of at most {LIMITS[field]} characters.",
                code=Code.INVALID_SUMMARY, details={"field": field, "max_length": LIMITS[field]},
            )  # fmt: skip
    missing = [field for field in REQUIRED if not (summary.get(field) or "").strip()]
    if missing:
        raise InvalidInput(f"`summary` needs {', '.join(missing)}.", code=Code.INVALID_SUMMARY,
                           details={"missing": missing})  # fmt: skip
    return summary


def escalation_handoff(
    *, agent, reason: str, summary: Any, action_id: Any = None, tier: str = "",
    request_id: str = "",
) -> Escalation:  # fmt: skip
    """The agent's hand-off: a case in the tier its policy gives (the action's rule's, or the
    default tier), or in a higher one it names (`tier`: the policy's tier or one the chain from it
    reaches; a lower one is refused, 400 `tier_too_low`). A pending action of its own is escalated
    with it; an action it does not own reads as unknown (404)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("`reason` must be text of 1 to 500 characters.",
                           code=Code.REASON_REQUIRED)  # fmt: skip
    summary = _checked_summary(summary)
    actor = Actor.agent(agent.pk)
    with transaction.atomic(durable=True):
        action = None
        if action_id not in (None, ""):
            action = action_lock(action_id)
            if action.agent_id != agent.pk:
                raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND)
        given = tier_for(escalation_tier_of(action) if action is not None else "")
        chosen = given
        if tier:
            chosen = tier_named(tier)
            if chosen not in given.chain():
                raise InvalidInput(
                    f"Your policy escalates to {given.key}; you may name it or a tier above it "
                    f"({', '.join(t.key for t in given.chain())}), not {chosen.key}.",
                    code=Code.TIER_TOO_LOW,
                    details={"tier": chosen.key, "allowed": [t.key for t in given.chain()]},
                )
        if action is not None:
            action_hand_over(action=action, actor=actor, data={"reason": reason, "by": "agent"},
                             request_id=request_id)  # fmt: skip
        return case_open(
            source=Source.AGENT, reason=reason, actor=actor, action=action, agent_id=agent.pk,
            tier=chosen.key, summary=summary, request_id=request_id,
        )  # fmt: skip

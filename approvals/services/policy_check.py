"""An agent's dry run of the policy: which mode an action would get, recorded.

A dry run that named the rule, the approver role and the queue, unrecorded, let an agent probe the
policy's thresholds until it found what executes without a person. It answers only the mode now,
has a rate limit of its own (`POLICY_CHECK_RATE_LIMIT`), and each check is an audit event
(`policy.checked`): the audit chain counts an agent's checks and keeps what it asked about.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents.models import Agent
from approvals import selectors
from audit.events import Verb
from audit.services import Actor, audit_record


def policy_check(
    *,
    agent: Agent,
    action_type: str,
    params: dict[str, Any],
    context: dict[str, Any],
    intent: str = "execute",
    request_id: str = "",
) -> str:
    """The mode the active policy would give this action now; audited, nothing else is written."""
    _, decision = selectors.policy_decision(
        agent_name=agent.name, action_type=action_type, params=params, context=context,
        intent=intent,
    )  # fmt: skip
    with transaction.atomic(durable=True):
        audit_record(
            actor=Actor.agent(agent.pk),
            verb=Verb.POLICY_CHECKED,
            object_type="agent",
            object_id=agent.pk,
            data={
                "action_type": action_type,
                "intent": intent,
                "params": params,
                "mode": decision.mode,
                "rule": decision.rule_name,
                "policy_version": decision.policy_version,
            },
            request_id=request_id,
        )
    return decision.mode

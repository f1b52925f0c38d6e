"""Reading actions for agents, supervisors and dashboards."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from approvals.models import Action, ReasonCode, Status
from config.errors import NotFound
from escalations.selectors import escalation_latest_for_action
from policies.engine import Decision as PolicyDecision
from policies.models import ActionType
from policies.selectors import decision_for
from sandbox.selectors import derived_values

PROPOSED_STATUSES = (Status.RECOMMENDED, Status.DRAFTED)


def _with_relations(qs: QuerySet[Action]) -> QuerySet[Action]:
    return qs.select_related("agent", "action_type", "policy_version")


def parse_action_id(action_id: Any) -> uuid.UUID:
    """A malformed id is as unknown as a missing one: a 404, never a 500."""
    try:
        return action_id if isinstance(action_id, uuid.UUID) else uuid.UUID(str(action_id))
    except ValueError as exc:
        raise NotFound("No such action.", code="action_not_found") from exc


def action_get(*, action_id: Any) -> Action:
    try:
        return _with_relations(Action.objects.all()).get(pk=parse_action_id(action_id))
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code="action_not_found") from exc


def action_get_for_agent(*, action_id: Any, agent) -> Action:
    """Agents see only their own actions; a stranger's id reads as unknown, not forbidden."""
    action = action_get(action_id=action_id)
    if action.agent_id != agent.pk:
        raise NotFound("No such action.", code="action_not_found")
    return action


def action_get_for_principal(*, action_id: Any, principal) -> Action:
    agent = getattr(principal, "agent", None)
    if agent is not None:
        return action_get_for_agent(action_id=action_id, agent=agent)
    return action_get(action_id=action_id)


def action_approvals(*, action: Action) -> list[dict[str, Any]]:
    return [
        {"by": d.by.get_username(), "at": d.created_at, "kind": d.kind}
        for d in action.decisions.select_related("by").order_by("created_at", "id")
    ]


def actions_awaiting_people(*, limit: int = 400) -> QuerySet[Action]:
    """Pending actions, recommendations and drafts, oldest first, in one query."""
    return _with_relations(
        Action.objects.filter(status__in=(Status.PENDING, *PROPOSED_STATUSES))
    ).order_by("created_at", "id")[:limit]


def recent_actions(*, limit: int = 50) -> QuerySet[Action]:
    return _with_relations(
        Action.objects.exclude(status__in=(Status.PENDING, *PROPOSED_STATUSES))
    ).order_by("-updated_at", "-id")[:limit]


def action_escalation(*, action: Action) -> dict[str, Any] | None:
    """The action's latest escalation case as the agent sees it, or None (no query unless the
    action is escalated)."""
    if action.status != Status.ESCALATED:
        return None
    return escalation_latest_for_action(action_id=action.pk)


def policy_decision(
    *, agent_name: str, action_type: str, params: dict, context: dict, intent: str = "execute"
) -> tuple[ActionType, PolicyDecision]:
    """The active policy's decision on an action, with `derived.*` read from the sandbox backend
    only if a condition that applies reads it."""
    return decision_for(
        agent_name=agent_name,
        action_type=action_type,
        params=params,
        context=context,
        intent=intent,
        derived=lambda: derived_values(params=params),
    )


def reason_codes(*, kind: str | None = None) -> list[ReasonCode]:
    codes = ReasonCode.objects.filter(is_active=True).order_by("code")
    return [c for c in codes if kind is None or not c.kinds or kind in c.kinds]

"""Reading actions for agents, supervisors and dashboards."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from approvals.models import Action, ReasonCode, Status
from config.errors import NotFound


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


def pending_actions(*, limit: int = 200) -> QuerySet[Action]:
    return _with_relations(Action.objects.filter(status=Status.PENDING)).order_by(
        "created_at", "id"
    )[:limit]


def recent_actions(*, limit: int = 50) -> QuerySet[Action]:
    return _with_relations(Action.objects.exclude(status=Status.PENDING)).order_by(
        "-updated_at", "-id"
    )[:limit]


def reason_codes(*, kind: str | None = None) -> list[ReasonCode]:
    codes = ReasonCode.objects.filter(is_active=True).order_by("code")
    return [c for c in codes if kind is None or not c.kinds or kind in c.kinds]

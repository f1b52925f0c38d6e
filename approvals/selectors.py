"""Reading actions for agents, supervisors and dashboards."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from agents.models import Agent
from approvals.models import Action, Decision, Queue, ReasonCode, Status
from config.errors import NotFound
from escalations.selectors import escalation_latest_for_action
from policies.engine import Decision as PolicyDecision
from policies.models import ActionType
from policies.selectors import decision_for
from sandbox.selectors import derived_values

PROPOSED_STATUSES = (Status.RECOMMENDED, Status.DRAFTED)


def _with_relations(qs: QuerySet[Action]) -> QuerySet[Action]:
    return qs.select_related("agent", "action_type", "policy_version", "claimed_by")


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
    return action_get_for_user(action_id=action_id, user=principal)


# ---------------------------------------------------------------------------------------------
# queues: a person sees and decides only the actions of the queues they belong to


def queue_name_of(action: Action) -> str:
    """The queue an action belongs to: its rule's, or the default queue when the rule named none."""
    return action.queue or Queue.DEFAULT_NAME


def user_queue_names(*, user) -> frozenset[str] | None:
    """Names of the queues `user` works, as a member or through a team; None means every queue
    (superusers), so that an action whose queue has no `Queue` row is never out of everyone's sight.
    """
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return None
    names = (
        Queue.objects.filter(Q(members=user) | Q(teams__user=user))
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    return frozenset(names)


def _in_queues(qs: QuerySet[Action], queues: frozenset[str] | None) -> QuerySet[Action]:
    if queues is None:
        return qs
    names = set(queues)
    if Queue.DEFAULT_NAME in names:
        names.add("")
    return qs.filter(queue__in=sorted(names))


def user_may_see(*, user, action: Action) -> bool:
    queues = user_queue_names(user=user)
    return queues is None or queue_name_of(action) in queues


def action_get_for_user(*, action_id: Any, user) -> Action:
    """People see only the actions of their queues; another queue's action reads as unknown, so a
    queue's contents do not leak to people outside it."""
    action = action_get(action_id=action_id)
    if not user_may_see(user=user, action=action):
        raise NotFound("No such action.", code="action_not_found")
    return action


def queue_pending_counts(*, queues: frozenset[str] | None) -> list[tuple[str, int]]:
    """(queue name, pending actions) for every queue in `queues` (None: every queue), by name."""
    pending = (
        _in_queues(Action.objects.filter(status=Status.PENDING), queues)
        .values("queue")
        .annotate(n=Count("id"))
        .order_by("queue")
    )
    counts: dict[str, int] = {}
    for row in pending:
        name = row["queue"] or Queue.DEFAULT_NAME
        counts[name] = counts.get(name, 0) + row["n"]
    known = Queue.objects.order_by("name").values_list("name", flat=True)
    names = set(known if queues is None else queues) | set(counts)
    return [(name, counts.get(name, 0)) for name in sorted(names)]


def action_approvals(*, action: Action) -> list[dict[str, Any]]:
    return [
        {"by": d.by.get_username(), "at": d.created_at, "kind": d.kind}
        for d in action.decisions.select_related("by").order_by("created_at", "id")
    ]


def actions_awaiting_people(
    *, queues: frozenset[str] | None = None, limit: int = 400
) -> QuerySet[Action]:
    """Pending actions, recommendations and drafts of `queues` (None: all), oldest first."""
    qs = Action.objects.filter(status__in=(Status.PENDING, *PROPOSED_STATUSES))
    return _with_relations(_in_queues(qs, queues)).order_by("created_at", "id")[:limit]


def recent_actions(*, queues: frozenset[str] | None = None, limit: int = 50) -> QuerySet[Action]:
    qs = Action.objects.exclude(status__in=(Status.PENDING, *PROPOSED_STATUSES))
    return _with_relations(_in_queues(qs, queues)).order_by("-updated_at", "-id")[:limit]


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


# ---------------------------------------------------------------------------------------------
# the action page: what one action's reviewer reads about it, each a single query


def action_get_for_page(*, action_id: Any, user) -> Action:
    """One action of the viewer's queues with everything its page header shows joined in (the
    claim holder too); 404 outside their queues, as for `action_get_for_user`."""
    try:
        action = (
            _with_relations(Action.objects.all())
            .select_related("claimed_by")
            .get(pk=parse_action_id(action_id))
        )
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code="action_not_found") from exc
    if not user_may_see(user=user, action=action):
        raise NotFound("No such action.", code="action_not_found")
    return action


def action_decisions(*, action: Action) -> list[Decision]:
    """Every human decision on `action`, oldest first, with who made it and the reason code."""
    return list(
        Decision.objects.filter(action=action)
        .select_related("by", "reason_code")
        .order_by("created_at", "id")
    )


def actions_for_customer(
    *,
    customer_external_id: str,
    order_ids: Sequence[str],
    queues: frozenset[str] | None,
    exclude_id: Any = None,
    limit: int = 20,
) -> list[Action]:
    """Actions about one customer (on one of their orders, or naming them in params), of the
    viewer's queues only, newest first: other queues' actions do not leak through a customer."""
    about = Q(params__customer_id=customer_external_id) if customer_external_id else Q(pk=None)
    if order_ids:
        about |= Q(order_ref__in=sorted(order_ids))
    qs = _in_queues(Action.objects.filter(about), queues)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return list(_with_relations(qs).order_by("-created_at", "-id")[:limit])


def usernames_by_id(*, user_ids: Iterable[Any]) -> dict[str, str]:
    """{str(user id): username} for the audit log's user actors, in one query."""
    ids = sorted({int(i) for i in user_ids if str(i).isdigit()})
    if not ids:
        return {}
    users = get_user_model().objects.filter(pk__in=ids).order_by("pk")
    return {str(u.pk): u.get_username() for u in users}


def agent_names_by_id(*, agent_ids: Iterable[Any]) -> dict[str, str]:
    """{str(agent id): name} for the audit log's agent actors, in one query."""
    ids = sorted({str(i) for i in agent_ids if i})
    if not ids:
        return {}
    rows = Agent.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "name")
    return {str(pk): name for pk, name in rows}

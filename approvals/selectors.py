"""Reading actions for agents, supervisors and dashboards."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from agents.models import Agent
from approvals import handoff

# Deciding an action by the active policy has a module of its own; its callers read it here.
from approvals.deciding import policy_decision  # noqa: F401
from approvals.models import (
    AWAITING_STATUSES,
    Action,
    Decision,
    DecisionKind,
    Queue,
    ReasonCode,
    Status,
)
from config.errors import Code, InvalidInput, NotFound
from policies.models import ActionType, Tier
from policies.simulation import PastAction
from sandbox.selectors import order_ids_of_customers_matching

RELATIONS = ("agent", "action_type", "policy_version", "claimed_by")
# What a queue row shows of an action's relations (no policy version: one join less per push).
ROW_RELATIONS = ("agent", "action_type", "claimed_by")


def _with_relations(qs: QuerySet[Action], related: tuple[str, ...] = RELATIONS) -> QuerySet[Action]:
    return qs.select_related(*related)


def parse_action_id(action_id: Any) -> uuid.UUID:
    """A malformed id is as unknown as a missing one: a 404, never a 500."""
    try:
        return action_id if isinstance(action_id, uuid.UUID) else uuid.UUID(str(action_id))
    except ValueError as exc:
        raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND) from exc


def action_get(*, action_id: Any, related: tuple[str, ...] = RELATIONS) -> Action:
    try:
        return _with_relations(Action.objects.all(), related).get(pk=parse_action_id(action_id))
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND) from exc


def action_version_unedited(*, action_id: Any, since_version: int) -> int | None:
    """The action's version now, if nobody edited its params at or after `since_version`; None if
    someone did, or there is no such action (a decision asked with the old version is then
    refused by the service, after it checked the person may see the action at all)."""
    pk = parse_action_id(action_id)
    version = Action.objects.filter(pk=pk).values_list("version", flat=True).first()
    if version is None:
        return None
    edited = Decision.objects.filter(
        action_id=pk, kind=DecisionKind.EDIT, action_version__gte=since_version
    ).exists()
    return None if edited else version


def action_get_for_agent(*, action_id: Any, agent) -> Action:
    """Agents see only their own actions; a stranger's id reads as unknown, not forbidden."""
    action = action_get(action_id=action_id)
    if action.agent_id != agent.pk:
        raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND)
    return action


# ---------------------------------------------------------------------------------------------
# queues: a person sees and decides only the actions of the queues they belong to


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


def queue_names() -> frozenset[str]:
    """The names of every queue there is."""
    return frozenset(Queue.objects.order_by("name").values_list("name", flat=True))


def _in_queues(qs: QuerySet[Action], queues: frozenset[str] | None) -> QuerySet[Action]:
    if queues is None:
        return qs
    names = set(queues)
    if Queue.DEFAULT_NAME in names:
        names.add("")
    return qs.filter(queue__in=sorted(names))


def order_named_by_agent(*, order_id: str, agent_id: int) -> bool:
    """Whether an action of this agent names the order (`params.order_id`)."""
    return Action.objects.filter(agent_id=agent_id, order_ref=order_id).exists()


def order_named_in_queues(*, order_id: str, queues: frozenset[str] | None) -> bool:
    """Whether an action in these queues (None: every queue) names the order."""
    return _in_queues(Action.objects.filter(order_ref=order_id), queues).exists()


# Counting stops here per queue, so the page costs the same with a million pending actions.
PENDING_COUNT_CAP = 10_000


@dataclass(frozen=True)
class QueueCount:
    name: str
    count: int
    capped: bool  # there are more than `count` (= PENDING_COUNT_CAP)


def queue_pending_counts(*, queues: frozenset[str] | None) -> list[QueueCount]:
    """Pending actions per queue in `queues` (None: every queue that exists), by name: one query,
    an index-only scan of at most PENDING_COUNT_CAP entries per queue (`action_pending_by_queue`).
    The default queue also counts the actions whose rule named no queue ("")."""
    names = sorted(
        Queue.objects.order_by("name").values_list("name", flat=True) if queues is None else queues
    )
    stored = sorted({*names, *([""] if Queue.DEFAULT_NAME in names else [])})
    table = Action._meta.db_table
    sql = (
        f"SELECT q.name, (SELECT count(*) FROM (SELECT 1 FROM {table} a "  # noqa: S608
        "WHERE a.status = %s AND a.queue = q.name LIMIT %s) capped) "
        "FROM unnest(%s::varchar[]) AS q(name) ORDER BY q.name"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Status.PENDING.value, PENDING_COUNT_CAP + 1, stored])
        found = dict(cursor.fetchall()) if stored else {}
    counts = []
    for name in names:
        n = found.get(name, 0) + (found.get("", 0) if name == Queue.DEFAULT_NAME else 0)
        counts.append(QueueCount(name, min(n, PENDING_COUNT_CAP), n > PENDING_COUNT_CAP))
    return counts


def action_approvals(*, action: Action) -> list[dict[str, Any]]:
    return [
        {"by": d.by.get_username(), "at": d.created_at, "kind": d.kind}
        for d in action.decisions.select_related("by").order_by("created_at", "id")
    ]


# ---------------------------------------------------------------------------------------------
# the queue page: awaiting actions filtered, sorted and read in keyset pages

SORT_SLA = "sla"  # SLA due time first, then id
SORT_PRIORITY = "priority"  # most urgent first, then SLA due time, then id
SORTS = (SORT_SLA, SORT_PRIORITY)
PAGE_SIZE = 50
_CURSOR_SALT = "countersign.queue-cursor"


@dataclass(frozen=True)
class QueueFilters:
    """What a reviewer narrowed the queue page to; every field already validated."""

    queues: frozenset[str] | None = None  # None: every queue the viewer works
    action_type: str = ""  # ActionType.key
    agent: str = ""  # Agent.name
    amount_min: int | None = None  # minor units, against `Action.amount`
    amount_max: int | None = None
    status: str = ""  # one of AWAITING_STATUSES, "" for all three
    search: str = ""  # an order id (or its prefix), a customer's external id or part of a name
    sort: str = SORT_SLA


@dataclass(frozen=True)
class AwaitingPage:
    actions: list[Action]
    next_cursor: str  # "" on the last page


def _rank() -> F:
    # The same expression as the `action_awaiting_rank` indexes: an ascending stand-in for
    # "priority descending", so one row comparison continues a page in index order.
    return F("priority") * -1


def _sort_key(action: Action, sort: str) -> list:
    key = [action.sla_due_at.isoformat(), str(action.pk)]
    return [-action.priority, *key] if sort == SORT_PRIORITY else key


def _cursor_encode(action: Action, sort: str) -> str:
    return signing.dumps({"s": sort, "k": _sort_key(action, sort)}, salt=_CURSOR_SALT)


def _cursor_decode(cursor: str, sort: str) -> tuple:
    """The sort key a page continues after. Signed, so a tampered or foreign link is a clear 400
    instead of a query on made-up values."""
    message = "That page link is not valid (it may belong to another sort order); start again."
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
        if not isinstance(data, dict) or data.get("s") != sort:
            raise ValueError("cursor of another sort order")
        key = data["k"]
        due, pk = datetime.fromisoformat(key[-2]), uuid.UUID(key[-1])
        if sort == SORT_PRIORITY:
            return (int(key[0]), due, pk)
        return (due, pk)
    except (signing.BadSignature, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(message, code=Code.INVALID_CURSOR) from exc


def _matching(qs: QuerySet[Action], filters: QueueFilters) -> QuerySet[Action]:
    if filters.queues is not None:
        qs = _in_queues(qs, filters.queues)
    if filters.action_type:
        qs = qs.filter(action_type__key=filters.action_type)
    if filters.agent:
        qs = qs.filter(agent__name=filters.agent)
    if filters.amount_min is not None:
        qs = qs.filter(amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        qs = qs.filter(amount__lte=filters.amount_max)
    if filters.search:
        # One subquery, not one query per customer: the page's query count stays fixed.
        customer_orders = order_ids_of_customers_matching(text=filters.search)
        qs = qs.filter(Q(order_ref__startswith=filters.search) | Q(order_ref__in=customer_orders))
    return qs


def actions_awaiting_page(
    *,
    queues: frozenset[str] | None,
    filters: QueueFilters,
    cursor: str = "",
    limit: int = PAGE_SIZE,
) -> AwaitingPage:
    """One page of the actions of `queues` (None: all) that wait for a person, after `cursor`.

    Keyset pagination over a unique sort key (the id breaks ties of SLA time), so pages neither
    overlap nor skip rows however many share a due time, and a deep page costs what the first does:
    an index range scan of the partial `action_awaiting_*` indexes.
    """
    statuses = [filters.status] if filters.status else list(AWAITING_STATUSES)
    qs = _matching(_in_queues(Action.objects.filter(status__in=statuses), queues), filters)
    if filters.sort == SORT_PRIORITY:
        qs = qs.alias(rank=_rank())
        columns = (F("rank"), F("sla_due_at"), F("id"))
        order = ("rank", "sla_due_at", "id")
    else:
        columns = (F("sla_due_at"), F("id"))
        order = ("sla_due_at", "id")
    if cursor:
        qs = qs.filter(TupleGreaterThan(Tuple(*columns), _cursor_decode(cursor, filters.sort)))
    rows = list(_with_relations(qs).order_by(*order)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return AwaitingPage(
        actions=rows, next_cursor=_cursor_encode(rows[-1], filters.sort) if more else ""
    )


def action_is_batchable(action: Action) -> bool:
    """Low risk enough to decide together with others from the queue page: pending, one approval,
    never edited, and no larger than `COUNTERSIGN["BATCH_MAX_AMOUNT"]` (minor units)."""
    limit = settings.COUNTERSIGN.get("BATCH_MAX_AMOUNT", 50000)
    return (
        action.status == Status.PENDING
        and action.approvals_required == 1
        and action.final_params is None
        and (action.amount is None or action.amount <= limit)
    )


def queue_filter_choices() -> dict[str, list[str]]:
    """Action types and agents for the filter form's menus (bounded: two queries)."""
    return {
        "action_types": list(ActionType.objects.order_by("key").values_list("key", flat=True)),
        "agents": list(Agent.objects.order_by("name").values_list("name", flat=True)[:500]),
    }


def recent_actions(*, queues: frozenset[str] | None = None, limit: int = 50) -> QuerySet[Action]:
    """What no longer waits for a person, latest change first (index `action_recent`)."""
    qs = Action.objects.exclude(status__in=AWAITING_STATUSES)
    return _with_relations(_in_queues(qs, queues)).order_by("-updated_at", "-id")[:limit]


def action_escalation(*, action: Action) -> dict[str, Any] | None:
    """The action's latest escalation case as the agent sees it (`{id, tier, status, outcome}`),
    or None."""
    return handoff.desk().case_of_action(action_id=action.pk)


def escalation_tiers() -> list[Tier]:
    """Every escalation tier, by key: where a reviewer may send an action, and what the rulebook
    reads to say whether someone handles cases at all (one query)."""
    return list(Tier.objects.order_by("key"))


def reason_codes(*, kind: str | None = None) -> list[ReasonCode]:
    codes = ReasonCode.objects.filter(is_active=True).order_by("code")
    return [c for c in codes if kind is None or c.fits(kind)]


# ---------------------------------------------------------------------------------------------
# the action page: what one action's reviewer reads about it, each a single query


def action_get_for_page(*, action_id: Any) -> Action:
    """One action with everything its page header shows joined in (the claim holder too); the
    page asks the rulebook whether the viewer may see it."""
    try:
        action = (
            _with_relations(Action.objects.all())
            .select_related("claimed_by")
            .get(pk=parse_action_id(action_id))
        )
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND) from exc
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


# Rows fetched per round trip while streaming past actions to a policy simulation.
_REPLAY_CHUNK = 2000
_REPLAY_FIELDS = (
    "id", "action_type_id", "agent__name", "params", "context", "intent", "mode",
    "approvals_required", "amount", "currency", "created_at",
)  # fmt: skip


def actions_for_replay(*, since: datetime, until: datetime) -> Iterator[PastAction]:
    """The actions submitted in [since, until), oldest first, streamed (the simulation's source)."""
    rows = (
        Action.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by("created_at", "id")
        .values_list(*_REPLAY_FIELDS)
        .iterator(chunk_size=_REPLAY_CHUNK)
    )
    return map(PastAction._make, rows)


def actions_for_replay_count(*, since: datetime, until: datetime) -> int:
    """How many actions `actions_for_replay` yields for the window (the simulation's progress)."""
    return Action.objects.filter(created_at__gte=since, created_at__lt=until).count()


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

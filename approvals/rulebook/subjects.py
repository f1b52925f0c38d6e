"""Who asks and what they ask about: `Person`, `Facts`, the `Answer` type, and how to read them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db.models import CharField, Value
from django.db.models.functions import Cast

from agents.models import Agent
from approvals.models import Action, DecisionKind, Status
from approvals.selectors import user_queue_names
from config import clock
from config.errors import ApplicationError, Code
from execution import executor_for
from people.roles import Role

# Decisions that count towards an action's approvals: adopting a recommendation is approving it.
APPROVAL_KINDS = frozenset({DecisionKind.APPROVE, DecisionKind.ADOPT})
PROPOSED = frozenset({Status.RECOMMENDED, Status.DRAFTED})
EDITABLE = frozenset({Status.DRAFTED, Status.PENDING})
# Who works the queue page.
DASHBOARD_ROLES = frozenset({Role.SUPERVISOR.value, Role.SENIOR_SUPERVISOR.value})
# Who may reset a tripped circuit breaker.
BREAKER_RESET_ROLES = frozenset({Role.SUPERVISOR.value, Role.SENIOR_SUPERVISOR.value})


@dataclass(frozen=True)
class Person:
    """Who asks, read once per request, connection or service call."""

    user_id: int | None
    is_superuser: bool = False
    roles: frozenset[str] = frozenset()
    # Names of the queues they work; None for every queue (superusers).
    queues: frozenset[str] | None = frozenset()
    # The agents they operate: nobody reviews a request of their own agent.
    operated_agent_ids: frozenset[int] = frozenset()

    def holds(self, role: str) -> bool:
        return self.is_superuser or bool(self.roles & Role.granting(role))


@dataclass(frozen=True)
class Facts:
    """An action and its history as the questions need them, read at `now`."""

    status: str
    approver_role: str
    queue: str  # as the action holds it: "" is the default queue
    agent_id: int
    now: datetime
    claim_holder_id: int | None = None
    claim_holder_name: str = ""
    claim_expires_at: datetime | None = None
    # Who approved or adopted it, and who edited it (None: the history was not read).
    approver_ids: frozenset[int] | None = None
    editor_ids: frozenset[int] = frozenset()
    # Why nothing can undo it once executed ("" when something can).
    not_compensable: str = ""
    action_type: str = ""
    rollback_deadline: datetime | None = None
    rollback_window_seconds: int = 0


@dataclass(frozen=True)
class Answer:
    """ALLOWED, or the refusal that says why not; true when allowed."""

    error: ApplicationError | None = None

    def __bool__(self) -> bool:
        return self.error is None

    @property
    def code(self) -> Code | None:
        return self.error.code if self.error else None


ALLOWED = Answer()


def enforce(answer: Answer) -> None:
    if answer.error is not None:
        raise answer.error


# ---------------------------------------------------------------------------------------------
# reading people and facts


def person_of(user) -> Person:
    """`user` as the rulebook sees them: two queries (roles and operated agents in one, queues)."""
    if user is None or not user.is_authenticated:
        return Person(user_id=None)
    groups = Group.objects.filter(user=user).values_list("name", Value("group"))
    agents = Agent.objects.filter(operators=user).values_list(
        Cast("pk", CharField()), Value("agent")
    )
    rows = list(groups.union(agents, all=True).order_by("name"))
    return Person(
        user_id=user.pk,
        is_superuser=user.is_superuser,
        roles=Role.held(name for name, kind in rows if kind == "group"),
        queues=user_queue_names(user=user),
        operated_agent_ids=frozenset(int(pk) for pk, kind in rows if kind == "agent"),
    )


def facts_of(action: Action, *, history: bool | Iterable = False, now=None) -> Facts:
    """The facts of `action`; `history`: True reads its decisions (one query), an iterable of
    decisions already read uses those, False leaves who approved unknown."""
    now = now or clock.now()
    holder = action.claim_holder_id(now)
    approvers: frozenset[int] | None = None
    editors: frozenset[int] = frozenset()
    if history is not False:
        decisions = (
            action.decisions.filter(kind__in=[*APPROVAL_KINDS, DecisionKind.EDIT]).order_by("id")
            if history is True
            else history
        )
        rows = [(d.kind, d.by_id) for d in decisions]
        approvers = frozenset(by for kind, by in rows if kind in APPROVAL_KINDS)
        editors = frozenset(by for kind, by in rows if kind == DecisionKind.EDIT)
    key = action.action_type.key
    executor = executor_for(key)
    window = action.action_type.rollback_window_seconds
    return Facts(
        status=action.status,
        approver_role=action.approver_role,
        queue=action.queue,
        agent_id=action.agent_id,
        now=now,
        claim_holder_id=holder,
        claim_holder_name=action.claimed_by.get_username() if holder else "",
        claim_expires_at=action.claim_expires_at if holder else None,
        approver_ids=approvers,
        editor_ids=editors,
        not_compensable="" if executor.compensable else executor.why_not_compensable(key),
        action_type=key,
        rollback_deadline=(
            action.finished_at + timedelta(seconds=window) if action.finished_at else None
        ),
        rollback_window_seconds=window,
    )

"""Who may do what to an action: one pure answer per question, for services, pages, API and JS.

Each question takes a `Person` (who asks: roles, queues, the agents they operate) and `Facts` (the
action and its history, read at one moment) and answers `ALLOWED` or a refusal carrying the error
that says why. Services `enforce` the answers inside their transaction; pages and the API show the
affordances the same answers allow; the dashboard's script reads `dashboard_grants`. Nothing here
queries the database except `person_of` and `facts_of`, which read what the questions need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db.models import CharField, Value
from django.db.models.functions import Cast

from agents.models import Agent
from approvals.models import AWAITING_STATUSES, Action, DecisionKind, Queue, Status
from approvals.transitions import ALLOWED as MOVES
from approvals.transitions import IllegalTransition
from config import clock
from config.errors import ApplicationError, Code, Conflict, Forbidden, NotFound
from execution import NotCompensable, executor_for
from people.roles import Role

# Decisions that count towards an action's approvals: adopting a recommendation is approving it.
APPROVAL_KINDS = frozenset({DecisionKind.APPROVE, DecisionKind.ADOPT})
PROPOSED = frozenset({Status.RECOMMENDED, Status.DRAFTED})
EDITABLE = frozenset({Status.DRAFTED, Status.PENDING})
# Who works the queue page.
DASHBOARD_ROLES = frozenset({Role.SUPERVISOR.value, Role.SENIOR_SUPERVISOR.value})
# Who may reset a tripped circuit breaker.
BREAKER_RESET_ROLES = frozenset({Role.SUPERVISOR.value, Role.SENIOR_SUPERVISOR.value})


class ClaimedByOther(Conflict):
    default_code = Code.CLAIMED_BY_OTHER


class RollbackWindowClosed(Conflict):
    default_code = Code.ROLLBACK_WINDOW_CLOSED


@dataclass(frozen=True)
class Person:
    """Who asks, read once per request, connection or service call."""

    user_id: int | None
    is_superuser: bool = False
    roles: frozenset[str] = frozenset()
    # Names of the queues they work; None for every queue (superusers).
    queues: frozenset[str] | None = frozenset()
    # The agents they operate, among those the question is about: nobody reviews their own request.
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
    from approvals.selectors import user_queue_names  # selectors read; the rulebook decides

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


# ---------------------------------------------------------------------------------------------
# the pieces the questions are made of


def _not_found() -> Answer:
    return Answer(NotFound("No such action.", code=Code.ACTION_NOT_FOUND))


def _move_to(facts: Facts, target: str) -> Answer:
    if target in MOVES.get(facts.status, frozenset()):
        return ALLOWED
    return Answer(
        IllegalTransition(
            f"An action that is {facts.status} cannot become {target}.",
            details={"from": str(facts.status), "to": str(target)},
        )
    )


def claim_refusal(facts: Facts) -> ClaimedByOther:
    until = facts.claim_expires_at
    return ClaimedByOther(
        f"{facts.claim_holder_name} is reviewing this action (claimed until {until:%H:%M:%S} UTC).",
        details={"claimed_by": facts.claim_holder_name, "claim_expires_at": until.isoformat()},
    )


def _hands_free(person: Person, facts: Facts) -> Answer:
    """Someone else's live claim keeps everybody else's hands off the action until it ends."""
    if facts.claim_holder_id is not None and facts.claim_holder_id != person.user_id:
        return Answer(claim_refusal(facts))
    return ALLOWED


def _role_and_not_operator(person: Person, facts: Facts, *, role: str, doing: str) -> Answer:
    """`person` needs `role`, and must not operate the agent that requested the action."""
    if not person.holds(role):
        return Answer(
            Forbidden(
                f"{doing} this action needs the {role!r} role.",
                code=Code.MISSING_ROLE,
                details={"role": role},
            )
        )
    if facts.agent_id in person.operated_agent_ids:
        return Answer(
            Forbidden(
                "You operate the agent that requested this action, so you cannot review or "
                "decide it.",
                code=Code.OWN_REQUEST,
            )
        )
    return ALLOWED


def _first(*answers) -> Answer:
    """The first refusal among lazily asked answers (callables), or ALLOWED."""
    for ask in answers:
        answer = ask()
        if not answer:
            return answer
    return ALLOWED


# ---------------------------------------------------------------------------------------------
# the questions


def may_see_queue(person: Person, queue: str) -> bool:
    """Whether `person` works `queue` (as an action holds it: "" is the default queue)."""
    return person.queues is None or (queue or Queue.DEFAULT_NAME) in person.queues


def may_see(person: Person, facts: Facts) -> Answer:
    """People see the actions of their queues; another queue's action reads as unknown."""
    return ALLOWED if may_see_queue(person, facts.queue) else _not_found()


def may_use_dashboard(person: Person) -> bool:
    """The queue page and its live feed are for the people who decide actions."""
    return person.user_id is not None and (
        person.is_superuser or bool(person.roles & DASHBOARD_ROLES)
    )


def may_take_over(person: Person) -> Answer:
    """Take over someone else's claim, and reconcile executions of unknown outcome."""
    if person.holds(Role.SENIOR_SUPERVISOR):
        return ALLOWED
    return Answer(
        Forbidden(
            "Only a senior supervisor can take over someone else's claim.",
            code=Code.TAKEOVER_NEEDS_SENIOR,
        )
    )


def may_claim(person: Person, facts: Facts) -> Answer:
    """A claim keeps everybody else's hands off an action, so only someone who could decide it (or
    a senior supervisor, who may take claims over) may hold one: not a QA reviewer or an auditor
    who happens to see the queue, nor an operator of the requesting agent. Someone else's live
    claim is not refused here: see `may_claim_held`."""
    if facts.status not in AWAITING_STATUSES:
        return Answer(
            Conflict(
                f"An action that is {facts.status} is not waiting for a person.",
                code=Code.NOT_AWAITING,
                details={"status": facts.status},
            )
        )
    role = Role.SENIOR_SUPERVISOR if may_take_over(person) else facts.approver_role
    return _role_and_not_operator(person, facts, role=role, doing="Claiming")


def may_claim_held(person: Person, facts: Facts, *, takeover_reason: str) -> Answer:
    """Claim an action someone else holds: only a senior supervisor, and only with a reason."""
    if facts.claim_holder_id is None or facts.claim_holder_id == person.user_id:
        return ALLOWED
    if not takeover_reason:
        return Answer(claim_refusal(facts))
    return may_take_over(person)


def may_decide(person: Person, facts: Facts, *, role: str | None = None) -> Answer:
    """Act on an action as its reviewer: hands free, the role it asks for (`role`: another one
    the decision needs, e.g. what edited params now ask for), and not an operator of its agent."""
    return _first(
        lambda: _hands_free(person, facts),
        lambda: _role_and_not_operator(
            person, facts, role=role or facts.approver_role, doing="Deciding"
        ),
    )


def may_approve(person: Person, facts: Facts) -> Answer:
    """Approve a pending action, once per person: an edit counted as its editor's approval."""

    def not_yet() -> Answer:
        if facts.approver_ids is not None and person.user_id in facts.approver_ids:
            return Answer(
                Conflict(
                    "You already approved this action (editing it counts as approving it); "
                    "someone else must approve it now.",
                    code=Code.ALREADY_APPROVED,
                )
            )
        return ALLOWED

    def pending() -> Answer:
        if facts.status != Status.PENDING:
            return Answer(Conflict(f"An action that is {facts.status} is not awaiting approval."))
        return ALLOWED

    return _first(
        lambda: _move_to(facts, Status.APPROVED),
        pending,
        lambda: may_decide(person, facts),
        not_yet,
    )


def may_reject(person: Person, facts: Facts) -> Answer:
    return _first(lambda: _move_to(facts, Status.REJECTED), lambda: may_decide(person, facts))


def may_edit(person: Person, facts: Facts) -> Answer:
    """Change the params of a draft, or of a pending action (approve with changes)."""
    if facts.status not in EDITABLE:
        return Answer(
            Conflict(
                f"An action that is {facts.status} is neither a draft nor pending: it cannot be "
                "edited.",
                code=Code.NOT_A_DRAFT,
                details={"status": facts.status},
            )
        )
    return may_decide(person, facts)


def proposal(facts: Facts) -> Answer:
    if facts.status in PROPOSED:
        return ALLOWED
    return Answer(
        Conflict(
            f"An action that is {facts.status} is not a recommendation or a draft.",
            code=Code.NOT_A_PROPOSAL,
            details={"status": facts.status},
        )
    )


def may_adopt(person: Person, facts: Facts, *, role: str | None = None) -> Answer:
    """Take a recommendation or draft on as one's own; `role`: what the policy now asks for."""
    return _first(lambda: proposal(facts), lambda: may_decide(person, facts, role=role))


def may_dismiss(person: Person, facts: Facts) -> Answer:
    return _first(lambda: proposal(facts), lambda: may_decide(person, facts))


def rollback_refusal(facts: Facts) -> Answer:
    """Whether the action itself can be rolled back now: compensable, within its window."""
    if facts.not_compensable:
        return Answer(
            NotCompensable(facts.not_compensable, details={"action_type": facts.action_type})
        )
    deadline = facts.rollback_deadline
    if deadline is None or facts.now > deadline:
        return Answer(
            RollbackWindowClosed(
                f"The rollback window of {facts.action_type} closed"
                + (f" at {deadline:%Y-%m-%d %H:%M:%S} UTC." if deadline else "."),
                details={
                    "deadline": deadline.isoformat() if deadline else None,
                    "window_seconds": facts.rollback_window_seconds,
                },
            )
        )
    return ALLOWED


def may_roll_back(person: Person, facts: Facts) -> Answer:
    """Undo a succeeded action: whoever may decide actions of its kind, within its window."""
    return _first(
        lambda: _move_to(facts, Status.ROLLING_BACK),
        lambda: may_decide(person, facts, role=facts.approver_role or Role.SUPERVISOR),
        lambda: rollback_refusal(facts),
    )


def may_reconcile(person: Person, facts: Facts, *, target: str) -> Answer:
    """Record what an execution of unknown outcome did: a senior supervisor's call."""

    def senior() -> Answer:
        if person.holds(Role.SENIOR_SUPERVISOR):
            return ALLOWED
        return Answer(
            Forbidden(
                "Reconciling an execution needs the 'senior_supervisor' role.",
                code=Code.MISSING_ROLE,
                details={"role": Role.SENIOR_SUPERVISOR.value},
            )
        )

    def unknown_outcome() -> Answer:
        # The table lets a worker move `executing` on too; a person only settles what no
        # worker can: an outcome nobody knows.
        if facts.status == Status.NEEDS_RECONCILIATION:
            return _move_to(facts, target)
        return Answer(
            IllegalTransition(
                f"An action that is {facts.status} has no unknown outcome to reconcile.",
                details={"from": str(facts.status), "to": str(target)},
            )
        )

    return _first(unknown_outcome, senior)


def may_reset_breaker(person: Person) -> Answer:
    if person.user_id is not None and (person.is_superuser or person.roles & BREAKER_RESET_ROLES):
        return ALLOWED
    return Answer(
        Forbidden(
            "Resetting a breaker needs the supervisor or senior_supervisor role.",
            code=Code.MISSING_ROLE,
            details={"roles": sorted(BREAKER_RESET_ROLES)},
        )
    )


def may_cancel(agent_id: int, facts: Facts) -> Answer:
    """An agent withdraws its own pending action; another agent's reads as unknown."""
    if facts.agent_id != agent_id:
        return _not_found()
    return _move_to(facts, Status.CANCELLED)


# ---------------------------------------------------------------------------------------------
# what the dashboard's script reads: the rows are the same for everybody, so the page carries
# these answers about the viewer and the script only looks them up


def dashboard_grants(person: Person) -> dict[str, list]:
    """What the dashboard's script needs to show each row's controls to this viewer, as the
    rulebook answers it: the approver roles whose actions they may decide ("" stands for an
    action no role may decide, left to superusers; `decides_any` for superusers), the agents
    whose requests they may not review, and the statuses that wait for a person. The script only
    looks these up."""
    roles = [*sorted({*Role.values, *person.roles}), ""]
    return {
        # A superuser decides whatever role an action asks for, including roles not listed here.
        "decides_any": person.is_superuser,
        "decides_for": [role for role in roles if person.holds(role)],
        "own_agents": sorted(person.operated_agent_ids),
        "awaiting": sorted(AWAITING_STATUSES),
    }

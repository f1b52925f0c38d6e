"""The questions: may this person do this to this action now? Each a pure function."""

from __future__ import annotations

from collections.abc import Iterable

from approvals.models import AWAITING_STATUSES, Queue, Status
from approvals.rulebook.subjects import (
    ALLOWED,
    BREAKER_RESET_ROLES,
    DASHBOARD_ROLES,
    EDITABLE,
    PROPOSED,
    Answer,
    Facts,
    Person,
)
from approvals.transitions import ALLOWED as MOVES
from approvals.transitions import IllegalTransition
from config.errors import Code, Conflict, Forbidden, NotFound
from execution import NotCompensable
from people.roles import Role


class ClaimedByOther(Conflict):
    default_code = Code.CLAIMED_BY_OTHER


class RollbackWindowClosed(Conflict):
    default_code = Code.ROLLBACK_WINDOW_CLOSED


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

    return _first(
        lambda: _move_to(facts, Status.APPROVED),
        lambda: _pending(facts),
        lambda: may_decide(person, facts),
        not_yet,
    )


def _pending(facts: Facts) -> Answer:
    """Only a pending action is decided here: an escalated one is its case handler's to settle."""
    if facts.status != Status.PENDING:
        return Answer(Conflict(f"An action that is {facts.status} is not awaiting approval."))
    return ALLOWED


def may_reject(person: Person, facts: Facts) -> Answer:
    return _first(
        lambda: _move_to(facts, Status.REJECTED),
        lambda: _pending(facts),
        lambda: may_decide(person, facts),
    )


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
    """Record what an execution of unknown outcome did: a senior supervisor's call, never one of
    the people who operate the agent that asked for it."""

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

    return _first(
        unknown_outcome,
        lambda: _role_and_not_operator(
            person, facts, role=Role.SENIOR_SUPERVISOR, doing="Reconciling"
        ),
    )


def may_reset_breaker(person: Person, *, agent_ids: Iterable[int] = ()) -> Answer:
    """Reset a tripped breaker: a supervisor's call, unless they operate an agent it tripped for
    (a breaker holds an agent back; its operators do not let it loose again)."""
    may_reset = person.is_superuser or bool(person.roles & BREAKER_RESET_ROLES)
    if person.user_id is None or not may_reset:
        return Answer(
            Forbidden(
                "Resetting a breaker needs the supervisor or senior_supervisor role.",
                code=Code.MISSING_ROLE,
                details={"roles": sorted(BREAKER_RESET_ROLES)},
            )
        )
    operated = sorted(set(agent_ids) & person.operated_agent_ids)
    if operated:
        return Answer(
            Forbidden(
                "You operate an agent this breaker holds back, so another supervisor resets it.",
                code=Code.OWN_REQUEST,
                details={"agent_ids": operated},
            )
        )
    return ALLOWED


def may_cancel(agent_id: int, facts: Facts) -> Answer:
    """An agent withdraws its own pending action; another agent's reads as unknown."""
    if facts.agent_id != agent_id:
        return _not_found()
    return _first(lambda: _move_to(facts, Status.CANCELLED), lambda: _pending(facts))

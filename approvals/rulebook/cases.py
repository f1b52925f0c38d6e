"""Who may do what to an escalation case, and who may escalate an action to one.

A case belongs to its tier: the tier's handlers (members of its group or its queue) see and work
it, and a person it was reassigned to works it too. Auditors read every case and change none. The
agent whose action it is never works it through a person's account it operates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from approvals.models import Status
from approvals.rulebook.questions import _first, _move_to, may_decide
from approvals.rulebook.subjects import ALLOWED, Answer, Facts, Person
from config.errors import Code, Conflict, Forbidden, NotFound
from people.roles import Role

RESOLVED = "resolved"
# The statuses a reviewer may escalate an action from (the dashboard's grants carry them).
ESCALATES_FROM = frozenset({Status.PENDING})


@dataclass(frozen=True)
class TierFacts:
    key: str
    handler_group: str = ""
    handler_queue: str = ""

    @classmethod
    def of(cls, tier) -> TierFacts:
        """The facts of a `policies.Tier` row (read, not queried)."""
        return cls(key=tier.key, handler_group=tier.handler_group, handler_queue=tier.handler_queue)


@dataclass(frozen=True)
class CaseFacts:
    """A case as the questions need it (`escalations.selectors.case_facts` reads it)."""

    status: str
    tier: TierFacts
    agent_id: int | None = None
    assignee_id: int | None = None
    acknowledged_by_id: int | None = None
    acknowledged_by_name: str = ""


def handles(person: Person, tier: TierFacts) -> bool:
    """Whether `person` handles the cases of `tier`."""
    if person.user_id is None:
        return False
    if person.is_superuser:
        return True
    if tier.handler_group and tier.handler_group in person.roles:
        return True
    queues = person.queues
    return bool(tier.handler_queue) and (queues is None or tier.handler_queue in queues)


def may_see_every_case(person: Person) -> bool:
    """Superusers and auditors read the cases of every tier (auditors change none)."""
    return person.user_id is not None and (person.is_superuser or person.holds(Role.AUDITOR))


def may_use_escalations(person: Person, tiers: Iterable[TierFacts]) -> bool:
    """The escalation workspace (`/escalations/` and its live feed) is for the handlers of any of
    `tiers` (every tier there is), and for those who read every case."""
    return may_see_every_case(person) or any(handles(person, tier) for tier in tiers)


def _not_found() -> Answer:
    return Answer(NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND))


def _works(person: Person, case: CaseFacts) -> bool:
    return handles(person, case.tier) or (
        case.assignee_id is not None and case.assignee_id == person.user_id
    )


def may_see_case(person: Person, case: CaseFacts) -> Answer:
    """Handlers of its tier, the person it was given to, and auditors see a case; to anyone else
    it reads as unknown (404), so a refusal never tells that it exists."""
    if _works(person, case) or may_see_every_case(person):
        return ALLOWED
    return _not_found()


def _handler(person: Person, case: CaseFacts) -> Answer:
    if not _works(person, case):
        seen = may_see_case(person, case)  # an auditor reads it; to anyone else it is unknown
        if not seen:
            return seen
        return Answer(
            Forbidden("Only the handlers of its tier work this case.", code=Code.MISSING_ROLE)
        )
    if case.agent_id is not None and case.agent_id in person.operated_agent_ids:
        return Answer(
            Forbidden(
                "You operate the agent this case is about; another handler must work it.",
                code=Code.OWN_REQUEST,
            )
        )
    return ALLOWED


def _unresolved(case: CaseFacts) -> Answer:
    if case.status == RESOLVED:
        return Answer(Conflict("This case is already resolved.", code=Code.ILLEGAL_CASE_MOVE))
    return ALLOWED


def _hands_free(person: Person, case: CaseFacts) -> Answer:
    """A case someone else acknowledged, or one given to someone else, is theirs to work."""
    if case.acknowledged_by_id is not None and case.acknowledged_by_id != person.user_id:
        return Answer(
            Conflict(
                f"{case.acknowledged_by_name} acknowledged this case and is working it.",
                code=Code.CASE_ACKNOWLEDGED_BY_OTHER,
                details={"acknowledged_by": case.acknowledged_by_name},
            )
        )
    if case.assignee_id is not None and case.assignee_id != person.user_id:
        return Answer(
            Conflict(
                "This case was reassigned to another handler.",
                code=Code.CASE_ACKNOWLEDGED_BY_OTHER,
            )
        )
    return ALLOWED


def may_acknowledge_case(person: Person, case: CaseFacts) -> Answer:
    def open_() -> Answer:
        if case.status != "open":
            return Answer(
                Conflict(f"A case that is {case.status} cannot be acknowledged.",
                         code=Code.ILLEGAL_CASE_MOVE)
            )  # fmt: skip
        return ALLOWED

    return _first(
        lambda: _handler(person, case), lambda: open_(), lambda: _hands_free(person, case)
    )


def may_reassign_case(person: Person, case: CaseFacts) -> Answer:
    """Any handler of its tier may pass a case on, with a reason (even one another acknowledged:
    that is how a stuck case is freed)."""
    return _first(lambda: _handler(person, case), lambda: _unresolved(case))


def may_resolve_case(person: Person, case: CaseFacts) -> Answer:
    return _first(
        lambda: _handler(person, case),
        lambda: _unresolved(case),
        lambda: _hands_free(person, case),
    )


def may_escalate(person: Person, facts: Facts) -> Answer:
    """A reviewer hands a pending action to an escalation tier (with a reason code)."""

    def pending() -> Answer:
        if facts.status not in ESCALATES_FROM:
            return Answer(
                Conflict(f"An action that is {facts.status} is not awaiting a decision.",
                         code=Code.NOT_AWAITING)
            )  # fmt: skip
        return ALLOWED

    return _first(
        lambda: _move_to(facts, Status.ESCALATED), pending, lambda: may_decide(person, facts)
    )

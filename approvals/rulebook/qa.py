"""Who may do what in QA: review an assignment, be given one, read reviews, dispute, lead QA.

QA reviewers review what they are assigned and decide no action; QA leads also run plans,
assignments, disputes and calibration; auditors read everything QA and change nothing. Nobody
reviews a resolution they took part in (decided, edited, adopted, escalated, handled its case) or
one of an agent they operate. Reviews are blind: while someone has an open review of an action, or
a calibration session is not revealed, they do not see the other reviews of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from approvals.rulebook.questions import may_see_queue
from approvals.rulebook.subjects import ALLOWED, Answer, Person
from config.errors import Code, Conflict, Forbidden, NotFound
from people.roles import Role

# Who reads the scorecards (the figures, the actions they count, the suggestions).
SCORECARD_ROLES = frozenset(
    {
        Role.QA_REVIEWER.value,
        Role.QA_LEAD.value,
        Role.AUDITOR.value,
        Role.POLICY_ADMIN.value,
        Role.SENIOR_SUPERVISOR.value,
    }
)


@dataclass(frozen=True)
class AssignmentFacts:
    """An assignment as the questions need it (`qa.selectors.assignment_facts` reads it)."""

    reviewer_id: int
    state: str  # open, submitted, removed
    kind: str  # sample, double, calibration
    agent_id: int
    # Everyone who took part in the resolution (see `qa.resolutions.involved_user_ids`).
    involved_ids: frozenset[int] = frozenset()
    session_revealed: bool = False


@dataclass(frozen=True)
class ReviewFacts:
    """A review and the action it judges, as the questions need them."""

    reviewer_id: int
    kind: str  # the assignment's kind
    is_current: bool  # no later version supersedes it
    involved_ids: frozenset[int] = frozenset()
    # The people who decided the action (approved, rejected, edited, adopted, dismissed).
    decider_ids: frozenset[int] = frozenset()
    # The action's queue ("" for the default queue), for supervisors reading its page.
    queue: str = ""
    session_revealed: bool = False
    # Whether the viewer has an open assignment on the same action (they review it blind).
    viewer_reviewing: bool = False
    has_open_dispute: bool = False
    has_decided_dispute: bool = False
    # Whether the viewer reviews in the calibration session this review belongs to.
    viewer_in_session: bool = False
    # Whether the viewer submitted a review of the same action (a double review, once done).
    viewer_reviewed: bool = False


def _missing(role: str, doing: str) -> Answer:
    return Answer(
        Forbidden(
            f"{doing} needs the {role!r} role.", code=Code.MISSING_ROLE, details={"role": role}
        )
    )


def may_use_qa(person: Person) -> bool:
    """The QA pages are for QA reviewers, QA leads and auditors."""
    return person.user_id is not None and (
        person.is_superuser or person.holds(Role.QA_REVIEWER) or person.holds(Role.AUDITOR)
    )


def may_read_all_qa(person: Person) -> bool:
    """Leads and auditors read every plan, sample, assignment, review, dispute and session."""
    return person.user_id is not None and (
        person.is_superuser or person.holds(Role.QA_LEAD) or person.holds(Role.AUDITOR)
    )


def may_see_scorecards(person: Person) -> bool:
    return person.user_id is not None and (
        person.is_superuser or bool(person.roles & SCORECARD_ROLES)
    )


def may_lead_qa(person: Person) -> Answer:
    """Manage plans and scorecards, reassign and remove assignments, decide disputes, run
    calibration sessions."""
    if person.user_id is not None and (person.is_superuser or person.holds(Role.QA_LEAD)):
        return ALLOWED
    return _missing(Role.QA_LEAD.value, "Running QA")


def may_be_plan_reviewer(person: Person) -> Answer:
    """Whether `person` may be one of a sampling plan's reviewers (items go to them)."""
    if person.user_id is not None and (person.is_superuser or person.holds(Role.QA_REVIEWER)):
        return ALLOWED
    return _missing(Role.QA_REVIEWER.value, "Reviewing")


def may_be_assigned(person: Person, facts: AssignmentFacts) -> Answer:
    """Whether the action may be given to `person` to review."""
    reviewer = may_be_plan_reviewer(person)
    if not reviewer:
        return reviewer
    if person.user_id in facts.involved_ids:
        return Answer(
            Forbidden(
                "You took part in this resolution, so you cannot review it.",
                code=Code.OWN_RESOLUTION,
            )
        )
    if facts.agent_id in person.operated_agent_ids:
        return Answer(
            Forbidden(
                "You operate the agent that requested this action, so you cannot review it.",
                code=Code.OWN_REQUEST,
            )
        )
    return ALLOWED


def may_see_assignment(person: Person, facts: AssignmentFacts) -> Answer:
    """Its reviewer, leads and auditors; to anyone else it is unknown."""
    if person.user_id == facts.reviewer_id or may_read_all_qa(person):
        return ALLOWED
    return Answer(NotFound("No such assignment.", code=Code.ASSIGNMENT_NOT_FOUND))


def may_review(person: Person, facts: AssignmentFacts) -> Answer:
    """Submit (or amend) the review of one's own assignment, still eligible for it."""
    seen = may_see_assignment(person, facts)
    if not seen:
        return seen
    if person.user_id != facts.reviewer_id:
        return Answer(Forbidden("This assignment is someone else's.", code=Code.FORBIDDEN))
    if facts.state == "removed" or (facts.kind == "calibration" and facts.session_revealed):
        return Answer(
            Conflict(
                "This assignment is closed: it was removed, or its calibration was revealed.",
                code=Code.ASSIGNMENT_CLOSED,
                details={"state": facts.state},
            )
        )
    return may_be_assigned(person, facts)


def may_see_review(person: Person, facts: ReviewFacts) -> Answer:
    """Its reviewer, leads and auditors; the people who decided the action and supervisors who
    see its queue (the action's page shows them); another reviewer of the action once they
    submitted their own. A viewer reviewing the same action blind, or
    taking part in a calibration not yet revealed, sees only their own; once it is revealed,
    everybody in the session sees every score."""
    if person.user_id == facts.reviewer_id:
        return ALLOWED
    hidden = Answer(NotFound("No such review.", code=Code.REVIEW_NOT_FOUND))
    if facts.kind == "calibration" and not facts.session_revealed:
        return ALLOWED if (person.is_superuser or person.holds(Role.QA_LEAD)) else hidden
    if facts.kind == "calibration" and facts.viewer_in_session:
        return ALLOWED
    if facts.viewer_reviewing:
        return hidden
    if facts.viewer_reviewed or may_read_all_qa(person) or person.user_id in facts.decider_ids:
        return ALLOWED
    if person.holds(Role.SUPERVISOR) and may_see_queue(person, facts.queue):
        return ALLOWED
    return hidden


def may_dispute(person: Person, facts: ReviewFacts) -> Answer:
    """The people who decided the reviewed action dispute its current review, once."""
    if person.user_id not in facts.decider_ids:
        return Answer(
            Forbidden(
                "Only a person who decided this action can dispute its review.",
                code=Code.FORBIDDEN,
            )
        )
    if not facts.is_current:
        return Answer(
            Conflict("A later version replaces this review.", code=Code.ASSIGNMENT_CLOSED)
        )
    if facts.has_open_dispute:
        return Answer(Conflict("This review is already disputed.", code=Code.DISPUTE_ALREADY_OPEN))
    if facts.has_decided_dispute:
        return Answer(
            Conflict("A dispute of this review was already decided.", code=Code.DISPUTE_DECIDED)
        )
    return ALLOWED


def may_decide_dispute(person: Person, *, reviewer_id: int, raised_by_id: int) -> Answer:
    """A QA lead who neither wrote the review nor raised the dispute."""
    led = may_lead_qa(person)
    if not led:
        return led
    if person.user_id in (reviewer_id, raised_by_id):
        return Answer(
            Forbidden(
                "You wrote this review or raised this dispute: another QA lead decides it.",
                code=Code.OWN_RESOLUTION,
            )
        )
    return ALLOWED

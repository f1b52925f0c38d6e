"""Who may do what to an action: one pure answer per question, for services, pages, API and JS.

Each question takes a `Person` (who asks: roles, queues, the agents they operate) and `Facts` (the
action and its history, read at one moment) and answers `ALLOWED` or a refusal carrying the error
that says why. Services `enforce` the answers inside their transaction; pages and the API show the
affordances the same answers allow; the dashboard's script reads `dashboard_grants`. Nothing here
queries the database except `person_of` and `facts_of`, which read what the questions need.
"""

from approvals.rulebook.clients import affordances, dashboard_grants
from approvals.rulebook.questions import (
    ClaimedByOther,
    RollbackWindowClosed,
    claim_refusal,
    may_adopt,
    may_approve,
    may_cancel,
    may_claim,
    may_claim_held,
    may_decide,
    may_dismiss,
    may_edit,
    may_reconcile,
    may_reject,
    may_reset_breaker,
    may_roll_back,
    may_see,
    may_see_queue,
    may_take_over,
    may_use_dashboard,
    proposal,
    rollback_refusal,
)
from approvals.rulebook.subjects import (
    ALLOWED,
    APPROVAL_KINDS,
    BREAKER_RESET_ROLES,
    DASHBOARD_ROLES,
    EDITABLE,
    PROPOSED,
    Answer,
    Facts,
    Person,
    enforce,
    facts_of,
    person_of,
)

__all__ = [
    "ALLOWED",
    "APPROVAL_KINDS",
    "BREAKER_RESET_ROLES",
    "DASHBOARD_ROLES",
    "EDITABLE",
    "PROPOSED",
    "Answer",
    "ClaimedByOther",
    "Facts",
    "Person",
    "RollbackWindowClosed",
    "affordances",
    "claim_refusal",
    "dashboard_grants",
    "enforce",
    "facts_of",
    "may_adopt",
    "may_approve",
    "may_cancel",
    "may_claim",
    "may_claim_held",
    "may_decide",
    "may_dismiss",
    "may_edit",
    "may_reconcile",
    "may_reject",
    "may_reset_breaker",
    "may_roll_back",
    "may_see",
    "may_see_queue",
    "may_take_over",
    "may_use_dashboard",
    "person_of",
    "proposal",
    "rollback_refusal",
]

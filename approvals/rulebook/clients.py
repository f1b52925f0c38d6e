"""What clients read of the rulebook: the dashboard's grants and one action's affordances.

The rows of the queue page are the same for everybody, so the page carries the answers about its
viewer and the script only looks them up; the API gives people the answers about one action.
"""

from __future__ import annotations

from approvals.models import AWAITING_STATUSES, Status
from approvals.rulebook.cases import ESCALATES_FROM, may_escalate
from approvals.rulebook.questions import (
    may_adopt,
    may_approve,
    may_claim,
    may_dismiss,
    may_edit,
    may_reconcile,
    may_reject,
    may_roll_back,
    may_take_over,
)
from approvals.rulebook.subjects import Facts, Person
from people.roles import Role


def dashboard_grants(person: Person) -> dict[str, list]:
    """What the dashboard's script needs to show each row's controls to this viewer, as the
    rulebook answers it: the approver roles whose actions they may decide ("" stands for an
    action no role may decide, left to superusers; `decides_any` for superusers), the agents
    whose requests they may not review, and the statuses that wait for a person. The script only
    looks these up. Who may decide an action may escalate it from the statuses in `escalates`."""
    roles = [*sorted({*Role.values, *person.roles}), ""]
    return {
        # A superuser decides whatever role an action asks for, including roles not listed here.
        "decides_any": person.is_superuser,
        "decides_for": [role for role in roles if person.holds(role)],
        "own_agents": sorted(person.operated_agent_ids),
        "awaiting": sorted(AWAITING_STATUSES),
        "escalates": sorted(ESCALATES_FROM),
    }


def affordances(person: Person, facts: Facts) -> dict[str, dict]:
    """Every question a person's client may ask about one action, answered: `{allowed, code}`
    per question, `code` saying why not. The API gives it to people with the action."""
    answers = {
        "claim": may_claim(person, facts),
        "take_over": may_take_over(person),
        "approve": may_approve(person, facts),
        "reject": may_reject(person, facts),
        "edit": may_edit(person, facts),
        "adopt": may_adopt(person, facts),
        "dismiss": may_dismiss(person, facts),
        "roll_back": may_roll_back(person, facts),
        "reconcile": may_reconcile(person, facts, target=Status.SUCCEEDED),
        "escalate": may_escalate(person, facts),
    }
    return {name: {"allowed": bool(a), "code": a.code} for name, a in answers.items()}

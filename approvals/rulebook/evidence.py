"""Who may take an action's evidence pack away: whoever may see the action, and auditors."""

from __future__ import annotations

from approvals.rulebook.questions import may_see
from approvals.rulebook.subjects import ALLOWED, Answer, Facts, Person
from people.roles import Role


def may_get_evidence(person: Person, facts: Facts) -> Answer:
    """People who see the action (their queues), and auditors, whose work is to read every
    action's record; to anyone else it is unknown."""
    if person.user_id is not None and person.holds(Role.AUDITOR):
        return ALLOWED
    return may_see(person, facts)

"""Who may see and change policy: versions, drafts and their rules, simulation, escalation tiers."""

from __future__ import annotations

from approvals.rulebook.subjects import ALLOWED, Answer, Person
from config.errors import Code, Forbidden
from people.roles import Role


def may_edit_policy(person: Person) -> Answer:
    """Policy admins (and superusers) read and change policy, and open drafts from QA's
    suggestions; to anyone else the policy pages are closed."""
    if person.user_id is not None and person.holds(Role.POLICY_ADMIN):
        return ALLOWED
    return Answer(
        Forbidden(
            "Policies are for policy admins.",
            code=Code.MISSING_ROLE,
            details={"role": Role.POLICY_ADMIN.value},
        )
    )


def may_confirm_publication(person: Person, *, requested_by_id: int) -> Answer:
    """A request to publish or activate a policy version is confirmed by a second policy admin:
    never by the one who asked (the service and the database refuse that too)."""
    allowed = may_edit_policy(person)
    if not allowed:
        return allowed
    if person.user_id == requested_by_id:
        return Answer(
            Forbidden(
                "You asked for this yourself: another policy admin must confirm it.",
                code=Code.SECOND_ADMIN_REQUIRED,
            )
        )
    return ALLOWED

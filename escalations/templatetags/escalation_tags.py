"""The top bar's way to the escalation workspace, shown to whom the rulebook lets use it."""

from django import template

from approvals import rulebook
from escalations import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def may_use_escalations(context) -> bool:
    """Whether the signed-in person may use `/escalations/`. A page that already knows says so
    in `escalations_nav`; one that read its viewer passes it as `viewer`; otherwise the person is
    read here (two queries) and the tiers (one)."""
    known = context.get("escalations_nav")
    if known is not None:
        return bool(known)
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return False
    viewer = context.get("viewer")
    person = viewer if isinstance(viewer, rulebook.Person) else rulebook.person_of(user)
    return selectors.workspace_of(person=person).may_use

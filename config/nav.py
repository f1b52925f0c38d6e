"""The top bar's questions (template library `countersign_nav`): which links a person sees, as
the rulebook answers them.

Wiring, like `config.urls`: it sits outside the app layers, so it may ask `approvals.rulebook`
what `policies` (below approvals) may not import. The person is read once per request and shared
by every question the top bar asks.
"""

from __future__ import annotations

from django import template

from approvals import rulebook

register = template.Library()

_CACHE = "_countersign_nav_person"


def viewer_person(context) -> rulebook.Person:
    """Who looks: the page's `viewer` when it read one, else read here once per request."""
    viewer = context.get("viewer")
    if isinstance(viewer, rulebook.Person):
        return viewer
    request = context.get("request")
    cached = getattr(request, _CACHE, None)
    if cached is not None:
        return cached
    person = rulebook.person_of(context.get("user"))
    if request is not None:
        setattr(request, _CACHE, person)
    return person


@register.simple_tag(takes_context=True)
def may_edit_policy(context) -> bool:
    """Whether the top bar links to the policy pages: the rulebook's `may_edit_policy`."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return False
    return bool(rulebook.may_edit_policy(viewer_person(context)))

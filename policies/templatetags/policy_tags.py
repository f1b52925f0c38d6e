"""Template helpers for the policy pages and the top bar's link to them."""

from django import template

from policies.selectors import user_may_edit_policy

register = template.Library()


@register.filter
def may_edit_policy(user) -> bool:
    return user_may_edit_policy(user=user)

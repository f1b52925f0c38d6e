"""The top bar's way to QA, shown to whom the rulebook lets use QA or read its scorecards."""

from django import template

from approvals import rulebook

register = template.Library()


@register.simple_tag(takes_context=True)
def qa_link(context) -> str:
    """Where the top bar's "QA" link goes: `/qa/` for people who use QA, `/qa/scorecards/` for
    those who only read the scorecards, "" for anyone else. A QA page says so in `qa_link`; a page
    that read its viewer passes it as `viewer`; otherwise the person is read here (two queries)."""
    known = context.get("qa_link")
    if known is not None:
        return known
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return ""
    viewer = context.get("viewer")
    person = viewer if isinstance(viewer, rulebook.Person) else rulebook.person_of(user)
    if rulebook.may_use_qa(person):
        return "/qa/"
    if rulebook.may_see_scorecards(person):
        return "/qa/scorecards/"
    return ""

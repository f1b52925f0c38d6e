"""The ways to and between the QA pages: the top bar's "QA" link and the QA pages' own links,
each shown to whom the rulebook lets reach the page."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.urls import reverse

from approvals import rulebook
from config.nav import viewer_person

register = template.Library()


@register.simple_tag(takes_context=True)
def qa_link(context) -> str:
    """Where the top bar's "QA" link goes: `/qa/` for people who use QA, `/qa/scorecards/` for
    those who only read the scorecards, "" for anyone else. A QA page says so in `qa_link`; a page
    that read its viewer passes it as `viewer`; otherwise the person is read once per request."""
    known = context.get("qa_link")
    if known is not None:
        return known
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return ""
    person = viewer_person(context)
    if rulebook.may_use_qa(person):
        return "/qa/"
    if rulebook.may_see_scorecards(person):
        return "/qa/scorecards/"
    return ""


@dataclass(frozen=True)
class QaPage:
    key: str
    label: str
    url: str
    # The paths that belong to this page (a sample and the scorecard setup belong to the plans).
    prefixes: tuple[str, ...]
    current: bool = False


def _pages(person: rulebook.Person) -> list[QaPage]:
    uses, reads_all = rulebook.may_use_qa(person), rulebook.may_read_all_qa(person)
    scorecards = rulebook.may_see_scorecards(person)
    pages = [
        (uses, "assignments", "Assignments", "/qa/", ("/qa/",)),
        (reads_all, "plans", "Plans", "/qa/plans/",
         ("/qa/plans/", "/qa/samples/", "/qa/scorecards-setup/")),
        (reads_all, "disputes", "Disputes", "/qa/disputes/", ("/qa/disputes/",)),
        (uses, "calibration", "Calibration", "/qa/calibration/", ("/qa/calibration/",)),
        (scorecards, "scorecards", "Scorecards", "/qa/scorecards/", ("/qa/scorecards/",)),
        (scorecards, "suggestions", "Suggestions", "/qa/suggestions/", ("/qa/suggestions/",)),
    ]  # fmt: skip
    return [QaPage(key, label, url, paths) for shown, key, label, url, paths in pages if shown]


@register.simple_tag(takes_context=True)
def qa_pages(context) -> list[QaPage]:
    """The QA pages the viewer may reach, the one they are on marked `current` (the longest
    matching path prefix, so a review page counts as the assignments)."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return []
    pages = _pages(viewer_person(context))
    request = context.get("request")
    path = request.path if request is not None else ""
    matches = [(len(p), page.key) for page in pages for p in page.prefixes if path.startswith(p)]
    current = max(matches)[1] if matches else ""
    return [QaPage(p.key, p.label, p.url, p.prefixes, p.key == current) for p in pages]


@register.simple_tag(takes_context=True)
def action_href(context, action_id) -> str:
    """Where a QA page links an action: its page for people who work the queue, "" for anyone
    else (QA people and policy admins would only meet the queue's refusal there)."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return ""
    if not rulebook.may_use_dashboard(viewer_person(context)):
        return ""
    return reverse("approvals:action", kwargs={"action_id": action_id})

"""The review page (`/qa/reviews/<assignment>/`): the action as it stood and the scorecard form,
then the review read-only with an amend form and its versions; and the fragment the action page
loads (`/qa/actions/<uuid>/reviews/`) with the reviews its viewer may see and the dispute form.

A reviewer reads the action here and decides nothing: there is no form that touches the action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from approvals import rulebook
from approvals.action_page import action_facts
from config.errors import ApplicationError, NotFound
from config.http import request_id
from qa import selectors
from qa.models import Assignment, Review, RootCause, Verdict
from qa.services.disputes import TEXT_LIMIT, dispute_raise
from qa.services.reviews import NOTE_LIMIT, STRUCTURED, review_submit
from qa.views.home import qa_context, qa_required

STRUCTURED_LABELS = {
    "policy_followed": "Policy followed",
    "reason_code_accurate": "Reason code accurate",
    "amount_right": "Amount right",
    "problem_solved": "Customer's problem solved",
}
ANSWERS = {"yes": True, "no": False, "na": None}


@dataclass(frozen=True)
class CategoryField:
    key: str
    label: str
    weight: Any
    critical: bool
    allow_na: bool
    choices: list[str]
    value: str  # "0".."scale", "na", or "" (not answered)


@dataclass(frozen=True)
class StructuredField:
    name: str
    label: str
    value: str  # "yes", "no", "na"


def _answer(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "na")


def _form(scorecard, values: dict[str, Any]) -> dict[str, Any]:
    """The form's fields, filled with `values` (what was posted, or the current review)."""
    scores = values.get("scores") or {}
    categories = [
        CategoryField(
            key=str(c["key"]), label=c.get("label", c["key"]), weight=c.get("weight"),
            critical=bool(c.get("critical")), allow_na=bool(c.get("allow_na")),
            choices=[str(n) for n in range(scorecard.scale + 1)],
            value=("na" if scores[c["key"]] is None else str(scores[c["key"]]))
            if c["key"] in scores else "",
        )
        for c in scorecard.categories
    ]  # fmt: skip
    structured = [
        StructuredField(name, STRUCTURED_LABELS[name], _answer(values.get(name)))
        for name in STRUCTURED
    ]
    return {
        "categories": categories, "structured": structured, "verdict": values.get("verdict", ""),
        "root_causes": list(values.get("root_causes") or []), "note": values.get("note", ""),
    }  # fmt: skip


def _review_values(review: Review | None) -> dict[str, Any]:
    if review is None:
        return {}
    return {
        "scores": review.scores, "verdict": review.verdict, "root_causes": review.root_causes,
        "note": "", **{name: getattr(review, name) for name in STRUCTURED},
    }  # fmt: skip


def _posted(post, scorecard) -> dict[str, Any]:
    """The form as the service takes it; what does not parse is passed on for it to refuse."""
    scores: dict[str, Any] = {}
    for category in scorecard.categories:
        raw = post.get(f"score-{category['key']}", "")[:8]
        if raw == "na":
            scores[category["key"]] = None
        elif raw:
            scores[category["key"]] = int(raw) if raw.isdigit() else raw
    return {
        "scores": scores, "verdict": post.get("verdict", "")[:32],
        "root_causes": post.getlist("root_causes")[:20],
        "note": post.get("note", "")[: NOTE_LIMIT + 1],
        **{name: ANSWERS.get(post.get(name, "na")) for name in STRUCTURED},
    }  # fmt: skip


def _visible_assignment(person, assignment_id) -> tuple[Assignment, rulebook.AssignmentFacts]:
    """The assignment and its facts if the person may see it; a 404 (never a hint) otherwise."""
    try:
        assignment = selectors.assignment_get(assignment_id=assignment_id)
        facts = selectors.assignment_facts(assignment, person)
        rulebook.enforce(rulebook.may_see_assignment(person, facts))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return assignment, facts


def _page(request, person, assignment, facts, *, values=None, error=None):
    record = selectors.action_record(action_id=assignment.action_id)
    current = assignment.review
    may_review = rulebook.may_review(person, facts)
    others = [
        view for view in selectors.reviews_of_action(assignment.action_id, person)
        if view.review.assignment_id != assignment.pk
    ]  # fmt: skip
    context = qa_context(
        person, assignment=assignment, record=record, action=record.action,
        page=action_facts(record.action, person), current=current,
        versions=selectors.review_versions(assignment=assignment) if current else [],
        may_review=bool(may_review), refusal=None if may_review else may_review.error,
        form=_form(assignment.scorecard, values if values is not None else _review_values(current)),
        verdicts=Verdict.choices, root_cause_choices=RootCause.choices, others=others,
        why=selectors.why_sampled(assignment), error=error, note_limit=NOTE_LIMIT,
    )  # fmt: skip
    status = error.status_code if error is not None else 200
    return render(request, "qa/review.html", context, status=status)


@require_http_methods(["GET", "POST"])
@qa_required
def review(request, person, assignment_id):
    assignment, facts = _visible_assignment(person, assignment_id)
    if request.method == "GET":
        return _page(request, person, assignment, facts)
    values = _posted(request.POST, assignment.scorecard)
    try:
        review_submit(assignment_id=assignment.pk, by=request.user,
                      request_id=request_id(request), **values)  # fmt: skip
    except ApplicationError as exc:
        assignment, facts = _visible_assignment(person, assignment_id)
        return _page(request, person, assignment, facts, values=values, error=exc)
    return redirect("qa:review", assignment_id=assignment.pk)


# ---------------------------------------------------------------------------------------------
# the action page's fragment


def _fragment(request, action_id, *, error=None, status=200) -> HttpResponse:
    person = rulebook.person_of(request.user)
    try:
        views = selectors.reviews_of_action(action_id, person)
    except NotFound:
        views = []
    if not views:
        return HttpResponse("", status=status if error else 200)
    context = {"views": views, "action_id": action_id, "error": error, "reason_limit": TEXT_LIMIT,
               "structured": STRUCTURED_LABELS}  # fmt: skip
    return render(request, "qa/action_reviews.html", context, status=status)


@require_GET
def action_reviews(request, action_id):
    """The reviews of the action its viewer may see; an empty body when there are none (or the
    viewer is signed out: the page around it sends them to sign in)."""
    if not request.user.is_authenticated:
        return HttpResponse("")
    return _fragment(request, action_id)


@require_POST
def dispute(request, action_id, review_id):
    """The person who decided the action disputes its review; answers with the fragment."""
    if not request.user.is_authenticated:
        # Signed out (the session ended while the page was open): sign in, back to the action.
        back = reverse("approvals:action", kwargs={"action_id": action_id})
        if request.htmx:
            return HttpResponseClientRedirect(f"{reverse('login')}?next={back}")
        return redirect_to_login(back)
    try:
        dispute_raise(review_id=review_id, by=request.user,
                      reason=request.POST.get("reason", "")[: TEXT_LIMIT + 1],
                      request_id=request_id(request))  # fmt: skip
    except ApplicationError as exc:
        return _fragment(request, action_id, error=exc, status=exc.status_code)
    if not request.htmx:
        return redirect("approvals:action", action_id=action_id)
    return _fragment(request, action_id)

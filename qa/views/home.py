"""`/qa/`: a reviewer's assignments, open first; leads and auditors also read everybody's."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from approvals import rulebook
from config.errors import Code, Forbidden
from people.roles import Role
from qa import selectors
from qa.models import Assignment

STATES = (Assignment.State.OPEN, Assignment.State.SUBMITTED)


def qa_required(view):
    """The QA pages are for the people the rulebook lets use QA; anyone else gets a 403 page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        person = rulebook.person_of(request.user)
        if not rulebook.may_use_qa(person):
            raise PermissionDenied(Forbidden(
                "QA is for QA reviewers, QA leads and auditors.", code=Code.MISSING_ROLE,
                details={"roles": [Role.QA_REVIEWER, Role.QA_LEAD, Role.AUDITOR]},
            ))  # fmt: skip
        return view(request, person, *args, **kwargs)

    return wrapped


@dataclass(frozen=True)
class Row:
    """One assignment as the inbox lists it: figures from validated params, why it is there."""

    assignment: Assignment
    amount: str
    why: str
    period_start: datetime | None
    period_end: datetime | None


def rows(assignments) -> list[Row]:
    return [
        Row(a, selectors.amount_text(a.action), selectors.why_sampled(a),
            a.item.sample.period_start if a.item_id else None,
            a.item.sample.period_end if a.item_id else None)
        for a in assignments
    ]  # fmt: skip


def qa_context(person: rulebook.Person, **context) -> dict:
    """What every QA page's header needs: who looks, and what they may reach from it."""
    return {
        "viewer": person,
        "qa_link": "/qa/",
        "leads": bool(rulebook.may_lead_qa(person)),
        "reads_all": rulebook.may_read_all_qa(person),
        **context,
    }


@require_GET
@qa_required
def home(request, person):
    mine = selectors.assignments_list(reviewer_id=person.user_id)
    everyone, reviewer, state = [], "", ""
    if rulebook.may_read_all_qa(person):
        reviewer = request.GET.get("reviewer", "").strip()[:150]
        state = request.GET.get("state", "")
        state = state if state in STATES else ""
        reviewer_id = None
        if reviewer:
            found = [u for u in selectors.qa_reviewers() if u.get_username() == reviewer]
            reviewer_id = found[0].pk if found else -1
        everyone = selectors.assignments_list(reviewer_id=reviewer_id, state=state)
    context = qa_context(
        person, mine=rows(mine), everyone=rows(everyone), reviewer=reviewer, state=state,
        open_count=sum(1 for a in mine if a.state == Assignment.State.OPEN),
    )  # fmt: skip
    return render(request, "qa/home.html", context)

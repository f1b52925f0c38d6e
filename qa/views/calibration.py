"""`/qa/calibration/`: sessions (leads open them: actions by id, reviewers picked) and each
session's board: the scores side by side once revealed, agreement per category and pair, and the
double-review agreement of the last 12 weeks."""

from __future__ import annotations

import re
from datetime import timedelta

from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import rulebook
from config import clock
from config.errors import ApplicationError, NotFound
from config.http import request_id
from qa import selectors
from qa.models import Scorecard
from qa.services.calibration import calibration_open, calibration_reveal
from qa.views.home import qa_context, qa_required

WINDOW = timedelta(weeks=12)
_SPLIT = re.compile(r"[\s,;]+")


def _list(request, person, *, error=None, values=None):
    context = qa_context(
        person, sessions=selectors.calibration_sessions(person),
        scorecards=Scorecard.objects.filter(is_active=True).order_by("name", "id"),
        reviewers=selectors.qa_reviewers() if rulebook.may_lead_qa(person) else [],
        error=error, values=values or {},
    )  # fmt: skip
    status = error.status_code if error is not None else 200
    return render(request, "qa/calibration.html", context, status=status)


@require_http_methods(["GET", "POST"])
@qa_required
def sessions(request, person):
    if request.method == "GET":
        return _list(request, person)
    values = {
        "name": request.POST.get("name", "")[:200],
        "scorecard": request.POST.get("scorecard", "")[:64],
        "actions": request.POST.get("actions", "")[:4000],
        "reviewers": request.POST.getlist("reviewers")[:50],
    }
    try:
        session = calibration_open(
            name=values["name"], scorecard_slug=values["scorecard"],
            action_ids=[a for a in _SPLIT.split(values["actions"]) if a][:100],
            reviewer_usernames=values["reviewers"], by=request.user,
            request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        return _list(request, person, error=exc, values=values)
    return redirect("qa:calibration", session_id=session.pk)


def _visible_session(person, session_id):
    try:
        session = selectors.calibration_get(session_id=session_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return session


def _board(request, person, session_id, *, error=None):
    session = _visible_session(person, session_id)
    board = selectors.calibration_board(session, person)
    if not (board.is_member or rulebook.may_read_all_qa(person)):
        raise Http404("No such calibration session.")
    overall, pairs, keys = selectors.double_review_agreement(since=clock.now() - WINDOW)
    context = qa_context(
        person, session=session, board=board, error=error,
        may_reveal=bool(rulebook.may_lead_qa(person)) and session.state == "open",
        double={"overall": overall, "pairs": pairs, "keys": keys},
    )  # fmt: skip
    status = error.status_code if error is not None else 200
    return render(request, "qa/calibration_session.html", context, status=status)


@require_GET
@qa_required
def session(request, person, session_id):
    return _board(request, person, session_id)


@require_POST
@qa_required
def reveal(request, person, session_id):
    try:
        calibration_reveal(session_id=session_id, by=request.user, request_id=request_id(request))
    except ApplicationError as exc:
        return _board(request, person, session_id, error=exc)
    return redirect("qa:calibration", session_id=session_id)

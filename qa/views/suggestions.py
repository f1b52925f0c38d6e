"""QA's suggested rule changes: the list (an htmx fragment of the scorecards page, or a page of its
own) and the button that opens one as a policy draft and simulates it."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from approvals import rulebook
from config import clock
from config.errors import ApplicationError, Code, Forbidden, InvalidInput
from config.http import request_id
from policies.simulation import MAX_DAYS
from qa.services.suggestions import suggestion_draft
from qa.suggestions import DEFAULT_DAYS, suggestions

PAGE = "qa/suggestions.html"
MAX_WEEKS = MAX_DAYS // 7
# How the evidence's counts read on the page.
COUNT_LABELS = {
    "actions": "actions",
    "approved": "approved as proposed",
    "reviewed": "reviewed by QA",
    "judged_right": "judged right",
    "leaked": "leaked",
    "judged_wrong": "judged wrong",
    "rolled_back": "rolled back",
    "charged_back": "charged back",
}


def scorecard_readers_only(view):
    """The suggestions are for whoever the rulebook lets read the scorecards."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next=/qa/suggestions/")
            return redirect_to_login(request.get_full_path())
        person = rulebook.person_of(request.user)
        if not rulebook.may_see_scorecards(person):
            raise PermissionDenied(Forbidden(
                "QA's suggestions are for QA, auditors, policy admins and senior supervisors.",
                code=Code.MISSING_ROLE, details={"roles": sorted(rulebook.SCORECARD_ROLES)},
            ))  # fmt: skip
        return view(request, person, *args, **kwargs)

    return wrapped


def _days(raw: str | None, *, unit: int, default: int) -> int:
    """A window in days from `raw` whole `unit`s (weeks: 7, days: 1), bounded like simulations."""
    if raw in (None, ""):
        return default
    limit = MAX_DAYS // unit
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise InvalidInput(
            f"The window is a whole number of {'weeks' if unit == 7 else 'days'} from 1 to "
            f"{limit}.",
            code=Code.INVALID_PERIOD,
        )
    return int(raw) * unit


def _context(person, days: int, **extra: Any) -> dict[str, Any]:
    until = clock.now()
    found = suggestions(since=until - timedelta(days=days), until=until)
    return {
        "suggestions": [
            {"s": s, "counts": [(COUNT_LABELS.get(k, k), n) for k, n in s.evidence.counts.items()]}
            for s in found
        ],
        "days": days,
        "may_draft": bool(rulebook.may_edit_policy(person)),
        **extra,
    }


@require_GET
@scorecard_readers_only
def suggestion_list(request, person):
    try:
        days = _days(request.GET.get("weeks"), unit=7, default=DEFAULT_DAYS)
    except InvalidInput as exc:
        context = {"error": exc.message, "suggestions": [], "days": DEFAULT_DAYS}
        return render(request, _template(request), context, status=exc.status_code)
    return render(request, _template(request), _context(person, days))


@require_POST
@scorecard_readers_only
def suggestion_open(request, person):
    """Open the suggestion as a draft, then its page simulating the same window."""
    try:
        days = _days(request.POST.get("days"), unit=1, default=DEFAULT_DAYS)
        until = clock.now()
        draft = suggestion_draft(
            key=request.POST.get("key", ""),
            by=request.user,
            since=until - timedelta(days=days),
            until=until,
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        context = _context(person, DEFAULT_DAYS, error=exc.message)
        return render(request, _template(request), context, status=exc.status_code)
    url = f"{reverse('policies:version', args=[draft.number])}?simulate={days}"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _template(request) -> str:
    return f"{PAGE}#suggestions" if request.htmx else PAGE

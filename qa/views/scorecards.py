"""The scorecards' pages: the figures per week with their charts and tables, the actions each
figure counts, and every table as CSV."""

from __future__ import annotations

import csv
import functools
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRedirect

from approvals import rulebook
from config.errors import Code, Forbidden, InvalidInput
from policies.money import format_money
from qa import metrics
from qa import metrics_tables as tables
from qa.metrics_drill import counted_actions, drill_query

PAGE_TEMPLATE = "qa/scorecards.html"
ACTIONS_TEMPLATE = "qa/scorecard_actions.html"
# The drill-down page shows this many actions; its CSV export, up to the larger bound.
PAGE_LIMIT = 500
CSV_LIMIT = 20000


def scorecards_required(view):
    """For the people the rulebook lets read the scorecards; anyone else gets the 403 page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next=/qa/scorecards/")
            return redirect_to_login(request.get_full_path())
        if not rulebook.may_see_scorecards(rulebook.person_of(request.user)):
            raise PermissionDenied(Forbidden(
                "The scorecards are for QA reviewers and leads, auditors, policy admins and "
                "senior supervisors.",
                code=Code.MISSING_ROLE, details={"roles": sorted(rulebook.SCORECARD_ROLES)},
            ))  # fmt: skip
        return view(request, *args, **kwargs)

    return wrapped


def _wants_csv(request) -> bool:
    fmt = request.GET.get("format", "")
    if fmt not in ("", "html", "csv"):
        raise InvalidInput("`format` must be html or csv.", code=Code.INVALID_INPUT)
    return fmt == "csv"


def _csv_response(rows, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerows(rows)
    return response


@require_GET
@scorecards_required
def scorecards(request):
    """The figures of the last weeks: a chart per figure, and the latest week's, the window's and
    each week's tables; `?format=csv&table=<name>` exports one table."""
    filters = {"weeks": request.GET.get("weeks", ""), "group_by": request.GET.get("group_by", "")}
    try:
        weeks = metrics.checked_weeks(filters["weeks"])
        group_by = metrics.checked_group_by(filters["group_by"])
        as_csv = _wants_csv(request)
        table_name = request.GET.get("table", "latest")
        if as_csv and table_name not in tables.TABLES:
            raise InvalidInput(f"`table` must be one of: {', '.join(tables.TABLES)}.",
                               code=Code.INVALID_INPUT)  # fmt: skip
    except InvalidInput as exc:
        context = {"error": exc.message, "filters": filters, "group_bys": metrics.GROUP_BY_LABELS}
        return render(request, PAGE_TEMPLATE, context, status=400)
    cards = metrics.scorecards(weeks=weeks, group_by=group_by)
    all_tables = tables.tables_of(cards)
    if as_csv:
        name = f"countersign-scorecards-{table_name}-{group_by}-{weeks}w-{cards.window.latest}.csv"
        return _csv_response(tables.csv_rows(all_tables[table_name]), name)
    query = {"weeks": weeks, "group_by": group_by}
    context = {
        "cards": cards,
        "tables": [all_tables[name] for name in tables.TABLES],
        "charts": tables.charts_of(cards),
        "metrics": metrics.METRICS,
        "filters": {"weeks": weeks, "group_by": group_by},
        "group_bys": metrics.GROUP_BY_LABELS,
        "query": urlencode(query),
        "suggestions_url": f"/qa/suggestions/?{urlencode({'weeks': weeks})}",
    }
    return render(request, PAGE_TEMPLATE, context)


@require_GET
@scorecards_required
def scorecard_actions(request):
    """The actions one figure counts for a week (or the window) and a group, its numerator's
    marked; `?format=csv` exports them."""
    try:
        query = drill_query(request.GET)
        as_csv = _wants_csv(request)
    except InvalidInput as exc:
        return render(request, ACTIONS_TEMPLATE, {"error": exc.message}, status=400)
    actions = counted_actions(query)
    if as_csv:
        when = query.week.isoformat() if query.week else f"{query.weeks}w"
        group = f"-{query.group_by}" if query.group is not None else ""
        name = f"countersign-{query.metric.key}-{when}{group}.csv"
        return _csv_response(tables.drill_csv_rows(actions[:CSV_LIMIT]), name)
    rows = [
        {"action": a, "amount": format_money(a.amount, a.currency),
         "decision_time": tables.duration_text(a.decision_time.total_seconds())
         if a.decision_time is not None else ""}
        for a in actions[:PAGE_LIMIT]
    ]  # fmt: skip
    total = actions.count() if len(rows) == PAGE_LIMIT else len(rows)
    numerator = actions.filter(in_numerator=True).count()
    context = {
        "query": query,
        "rows": rows,
        "total": total,
        "numerator": numerator,
        "group_label": tables.group_label(query.group, query.group_by),
        "csv_query": urlencode({**request.GET.dict(), "format": "csv"}),
        "back_query": urlencode({"weeks": query.weeks, "group_by": query.group_by}),
    }
    return render(request, ACTIONS_TEMPLATE, context)

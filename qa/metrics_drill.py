"""The drill-down: the actions a scorecard figure counts for a week (or the window) and a group,
each marked when its numerator counts it. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import BooleanField, QuerySet, Value

from config.errors import Code, InvalidInput
from qa import metrics
from qa import metrics_queries as queries
from qa.resolutions import resolutions

GROUP_LIMIT = 150


@dataclass(frozen=True)
class DrillQuery:
    metric: metrics.Metric
    week: date | None  # None: the whole window of `weeks`
    weeks: int
    group_by: str
    group: str | None  # None: overall

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        if self.week is not None:
            since = metrics.monday_start(self.week)
            return since, since + timedelta(days=7)
        window = metrics.window_of(self.weeks)
        return window.since, window.until


def drill_query(params: Any) -> DrillQuery:
    """The drill-down's query string: `metric`, `week` (a Monday) or `weeks`, `group_by` and
    `group` (absent: overall). 400 for anything else."""
    key = params.get("metric", "")
    if key not in metrics.BY_KEY:
        raise InvalidInput(
            f"`metric` must be one of: {', '.join(metrics.METRIC_KEYS)}.",
            code=Code.INVALID_INPUT, details={"metric": str(key)[:40]},
        )  # fmt: skip
    metric = metrics.BY_KEY[key]
    week = metrics.checked_week(params["week"]) if params.get("week") else None
    weeks = metrics.checked_weeks(params.get("weeks"))
    group_by = metrics.checked_group_by(params.get("group_by"))
    group = params.get("group") if group_by != "none" and "group" in params else None
    if group is not None and len(group) > GROUP_LIMIT:
        raise InvalidInput(f"`group` is at most {GROUP_LIMIT} characters.",
                           code=Code.INVALID_INPUT)  # fmt: skip
    if group_by == "reviewer" and not metric.from_reviews:
        raise InvalidInput(
            f"{metric.label} is not counted per reviewer: only the figures from reviews are.",
            code=Code.INVALID_GROUP_BY, details={"metric": metric.key},
        )  # fmt: skip
    return DrillQuery(metric=metric, week=week, weeks=weeks, group_by=group_by, group=group)


def counted_actions(query: DrillQuery) -> QuerySet:
    """The actions `query`'s figure counts, oldest resolution first, annotated `in_numerator`
    (None for percentiles and means), `resolved_at` and the QA flags. A review-based figure
    counts an action once even with two reviews (the figure counts the reviews)."""
    since, until = query.bounds
    reviewer = query.group if query.group_by == "reviewer" else None
    qs = queries.with_evidence(resolutions(since=since, until=until), reviewer=reviewer)
    if query.group is not None and query.group_by != "reviewer":
        action_field = queries.GROUP_FIELDS[query.group_by][0]
        qs = qs.filter(**{action_field: query.group})
    counted, numerator = queries.COUNTED[query.metric.key]
    marked = numerator if numerator is not None else Value(None, output_field=BooleanField())
    return (
        qs.filter(counted)
        .annotate(in_numerator=marked, decision_time=queries.decision_time())
        .select_related("agent", "action_type")
        .order_by("resolved_at", "id")
    )

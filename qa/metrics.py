"""The scorecards' figures: per week (Mondays, UTC) over the last weeks, overall and per agent,
action type, rule or reviewer, each with the numerator and denominator it was computed from.
Reads only; `qa.metrics_queries` holds the queries and `qa.metrics_drill` the actions each figure
counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from config import clock
from config.errors import Code, InvalidInput
from qa import metrics_queries as queries

WEEKS_DEFAULT = 12
WEEKS_MAX = 52
GROUP_BYS = ("none", "agent", "action_type", "rule", "reviewer")
GROUP_BY_LABELS = {
    "none": "Overall",
    "agent": "Agent",
    "action_type": "Action type",
    "rule": "Rule",
    "reviewer": "Reviewer",
}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    # rate (a share, 0..1), seconds, mean (CSAT, 1..5) or money (minor units per currency)
    kind: str
    # What the numerator and denominator count, for the pages.
    counts: str
    # Figures from reviews, the only ones the reviewer grouping gives.
    from_reviews: bool = False


METRICS = (
    Metric("override_rate", "Override rate", "rate",
           "overridden / decided by a person"),
    Metric("action_accuracy", "Action accuracy", "rate",
           "reviews judged right / reviews counted", from_reviews=True),
    Metric("money_leak", "Money leak", "money",
           "refunds leaked / refunds (judged wrong, rolled back or charged back)"),
    Metric("rollback_rate", "Rollback rate", "rate", "rolled back / executed"),
    Metric("escalation_rate", "Escalation rate", "rate", "escalated / resolutions"),
    Metric("escalation_quality", "Escalation quality", "rate",
           "reviews judged right / reviews of escalated actions", from_reviews=True),
    Metric("time_to_decision_p50", "Time to decision (p50)", "seconds",
           "decisions by a person"),
    Metric("time_to_decision_p90", "Time to decision (p90)", "seconds",
           "decisions by a person"),
    Metric("rubber_stamp_rate", "Rubber-stamp rate", "rate",
           "decided within 3 s of opening / decided by a person"),
    Metric("recontact_rate", "Recontact rate", "rate",
           "reports of a recontact / outcome reports"),
    Metric("csat", "CSAT", "mean", "sum of scores / reports with a score"),
)  # fmt: skip
METRIC_KEYS = tuple(m.key for m in METRICS)
BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Figure:
    """A figure and what it was computed from: `value` is None when there was nothing to count.
    Percentiles have no numerator."""

    value: float | int | None
    numerator: int | None
    denominator: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "numerator": self.numerator, "denominator": self.denominator}


def ratio(numerator: int, denominator: int) -> Figure:
    value = numerator / denominator if denominator else None
    return Figure(value, numerator, denominator)


@dataclass(frozen=True)
class Window:
    """The weeks counted: Mondays, oldest first, the current (partial) week last."""

    weeks: tuple[date, ...]

    @property
    def since(self) -> datetime:
        return monday_start(self.weeks[0])

    @property
    def until(self) -> datetime:
        return monday_start(self.weeks[-1]) + timedelta(days=7)

    @property
    def latest(self) -> date:
        return self.weeks[-1]


def monday_start(monday: date) -> datetime:
    return datetime.combine(monday, time.min, tzinfo=UTC)


def window_of(weeks: int = WEEKS_DEFAULT, *, now: datetime | None = None) -> Window:
    today = (now or clock.now()).astimezone(UTC).date()
    current = today - timedelta(days=today.weekday())
    return Window(tuple(current - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)))


# ---------------------------------------------------------------------------------------------
# the filters, as pages and the API take them


def checked_weeks(raw: Any) -> int:
    if raw in (None, ""):
        return WEEKS_DEFAULT
    text = str(raw)
    if not (text.isdigit() and len(text) <= 3 and 1 <= int(text) <= WEEKS_MAX):
        raise InvalidInput(
            f"`weeks` must be a whole number from 1 to {WEEKS_MAX}.",
            code=Code.INVALID_INPUT,
            details={"weeks": text[:20]},
        )
    return int(text)


def checked_group_by(raw: Any) -> str:
    if raw in (None, ""):
        return "none"
    if raw not in GROUP_BYS:
        raise InvalidInput(
            f"`group_by` must be one of: {', '.join(GROUP_BYS)}.",
            code=Code.INVALID_GROUP_BY,
            details={"group_by": str(raw)[:40], "allowed": list(GROUP_BYS)},
        )
    return raw


def checked_week(raw: Any) -> date:
    """A week named by its Monday, `YYYY-MM-DD`, no later than the current week."""
    try:
        monday = date.fromisoformat(str(raw or ""))
    except ValueError:
        monday = None
    if monday is None or len(str(raw)) != 10 or monday.weekday() != 0:
        raise InvalidInput(
            "`week` must be a Monday, as YYYY-MM-DD.", code=Code.INVALID_INPUT,
            details={"week": str(raw)[:20]},
        )  # fmt: skip
    if monday > window_of(1).latest:
        raise InvalidInput("`week` is in the future.", code=Code.INVALID_INPUT,
                           details={"week": str(raw)})  # fmt: skip
    return monday


# ---------------------------------------------------------------------------------------------
# the figures


@dataclass
class Scorecards:
    """Every figure for every cell: `(week, group)`, where a None week is the whole window and a
    None group is overall."""

    window: Window
    group_by: str
    groups: list[str]
    cells: dict[queries.Cell, dict[str, Any]] = field(default_factory=dict)

    def figures(self, week: date | None = None, group: str | None = None) -> dict[str, Any]:
        """Metric key -> Figure (money: currency -> Figure; None: not counted for this group)."""
        return self.cells[(week, group)]

    def series(self, key: str) -> list[Figure]:
        """The overall figure of each week, oldest first, for the charts."""
        return [self.cells[(week, None)][key] for week in self.window.weeks]

    def currencies(self) -> list[str]:
        found = {c for cell in self.cells.values() for c in (cell["money_leak"] or {})}
        return sorted(found)


def scorecards(*, weeks: int = WEEKS_DEFAULT, group_by: str = "none") -> Scorecards:
    """The figures of the last `weeks` weeks (the current one included), grouped by `group_by`."""
    window = window_of(weeks)
    since, until = window.since, window.until
    action_key, review_key, outcome_key = queries.GROUP_FIELDS.get(group_by, (None, None, None))
    actions = queries.action_counts(since, until, action_key)
    money = queries.money_counts(since, until, action_key)
    reviews = queries.review_counts(since, until, review_key)
    outcomes = queries.outcome_counts(since, until, outcome_key)

    money_by_cell: dict[queries.Cell, dict[str, Figure]] = defaultdict(dict)
    for (week, group, currency), row in money.items():
        money_by_cell[(week, group)][currency] = Figure(
            row["leaked_amount"], row["n_leaked"], row["n_refunds"]
        )
    keyed = [k[1] for k in (*actions, *reviews, *outcomes, *money_by_cell) if k[1] is not None]
    groups = sorted(set(keyed))
    result = Scorecards(window=window, group_by=group_by, groups=groups)
    for week in (*window.weeks, None):
        for group in (None, *groups):
            cell = (week, group)
            result.cells[cell] = _figures(
                actions.get(cell, {}), dict(money_by_cell.get(cell, {})),
                reviews.get(cell, {}), outcomes.get(cell, {}),
                reviews_only=group is not None and group_by == "reviewer",
            )  # fmt: skip
    return result


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _figures(actions: dict, money: dict, reviews: dict, outcomes: dict, *, reviews_only: bool):
    def n(row: dict, key: str) -> int:
        return row.get(key) or 0

    decided = n(actions, "n_decided")
    figures = {
        "override_rate": ratio(n(actions, "n_overridden"), n(actions, "n_by_person")),
        "action_accuracy": ratio(n(reviews, "n_right"), n(reviews, "n_reviews")),
        "money_leak": money,
        "rollback_rate": ratio(n(actions, "n_rolled_back"), n(actions, "n_executed")),
        "escalation_rate": ratio(n(actions, "n_escalated"), n(actions, "n_resolutions")),
        "escalation_quality": ratio(
            n(reviews, "n_escalated_right"), n(reviews, "n_escalated_reviews")
        ),
        "time_to_decision_p50": Figure(_seconds(actions.get("p50")), None, decided),
        "time_to_decision_p90": Figure(_seconds(actions.get("p90")), None, decided),
        "rubber_stamp_rate": ratio(n(actions, "n_rubber_stamped"), n(actions, "n_by_person")),
        "recontact_rate": ratio(n(outcomes, "n_recontacts"), n(outcomes, "n_reports")),
        "csat": Figure(
            n(outcomes, "csat_total") / n(outcomes, "n_rated") if n(outcomes, "n_rated") else None,
            n(outcomes, "csat_total"),
            n(outcomes, "n_rated"),
        ),
    }
    if reviews_only:
        return {k: (v if BY_KEY[k].from_reviews else None) for k, v in figures.items()}
    return figures


def figures_as_dict(figures: dict[str, Any]) -> dict[str, Any]:
    """One cell's figures as JSON: each `{value, numerator, denominator}`, money per currency."""
    out: dict[str, Any] = {}
    for key, figure in figures.items():
        if figure is None:
            out[key] = None
        elif isinstance(figure, dict):
            out[key] = {currency: f.as_dict() for currency, f in sorted(figure.items())}
        else:
            out[key] = figure.as_dict()
    return out

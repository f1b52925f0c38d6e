"""The scorecards as tables, for the page and its CSV exports alike: a row per group (or week), a
cell per figure that says its value with what it was computed from, and links to the actions it
counts. Pure: it reads a computed `Scorecards`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from policies.money import format_money
from qa import charts, metrics
from qa.metrics import Figure, Scorecards

TABLES = ("latest", "window", "weekly")
NO_RULE = "(no rule)"
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    metric: metrics.Metric
    currency: str = ""  # money columns, one per currency

    @property
    def label(self) -> str:
        return f"{self.metric.label} ({self.currency})" if self.currency else self.metric.label

    @property
    def csv_key(self) -> str:
        return f"{self.metric.key}_{self.currency}" if self.currency else self.metric.key


@dataclass(frozen=True)
class Cell:
    figure: Figure | None  # None: not counted for this group
    text: str
    href: str
    key: str = ""  # the column's key, as the CSV names it


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    first_column: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def value_text(metric: metrics.Metric, value: float | None, currency: str = "") -> str:
    if value is None:
        return "\N{EN DASH}"
    if metric.kind == "rate":
        return f"{value * 100:.1f} %"
    if metric.kind == "seconds":
        return duration_text(value)
    if metric.kind == "money":
        return format_money(int(value), currency)
    return f"{value:.2f}"


def figure_text(metric: metrics.Metric, figure: Figure | None, currency: str = "") -> str:
    """`25.0 % (1 / 4)`, `5 min 00 s (n = 4)`: the value, and what it was computed from."""
    if figure is None:
        return "not per reviewer"
    text = value_text(metric, figure.value, currency)
    if figure.numerator is None:
        return f"{text} (n = {figure.denominator})"
    return f"{text} ({figure.numerator} / {figure.denominator})"


def group_label(group: str | None, group_by: str) -> str:
    if group is None:
        return "Overall"
    return NO_RULE if group_by == "rule" and group == "" else group


def drill_href(
    metric: str, *, week: date | None, weeks: int, group_by: str, group: str | None
) -> str:
    params: dict[str, Any] = {"metric": metric}
    params.update({"week": week.isoformat()} if week else {"weeks": weeks})
    if group is not None:
        params.update({"group_by": group_by, "group": group})
    return f"{reverse('qa:scorecard-actions')}?{urlencode(params)}"


def columns_of(cards: Scorecards) -> tuple[Column, ...]:
    columns: list[Column] = []
    for metric in metrics.METRICS:
        if metric.kind == "money":
            currencies = cards.currencies() or [""]
            columns.extend(Column(metric, currency) for currency in currencies)
        else:
            columns.append(Column(metric))
    return tuple(columns)


def _cells(cards: Scorecards, columns, *, week: date | None, group: str | None):
    figures = cards.figures(week, group)
    weeks = len(cards.window.weeks)
    for column in columns:
        figure = figures[column.metric.key]
        if column.metric.kind == "money" and figure is not None:
            figure = figure.get(column.currency, Figure(0, 0, 0))
        href = drill_href(column.metric.key, week=week, weeks=weeks, group_by=cards.group_by,
                          group=group) if figure is not None else ""  # fmt: skip
        text = figure_text(column.metric, figure, column.currency)
        yield Cell(figure, text, href, column.csv_key)


def tables_of(cards: Scorecards) -> dict[str, Table]:
    """`latest` (the current week) and `window` (every week): a row per group after the overall
    one; `weekly`: a row per week, overall."""
    columns = columns_of(cards)
    label = metrics.GROUP_BY_LABELS[cards.group_by]
    groups = (None, *cards.groups)

    def per_group(week):
        return tuple(
            Row(group_label(g, cards.group_by), tuple(_cells(cards, columns, week=week, group=g)))
            for g in groups
        )

    latest = cards.window.latest
    return {
        "latest": Table("latest", f"Week of {latest:%d %b %Y}", label, columns, per_group(latest)),
        "window": Table("window", f"The last {len(cards.window.weeks)} weeks", label, columns,
                        per_group(None)),
        "weekly": Table("weekly", "Each week, overall", "Week", columns, tuple(
            Row(week.isoformat(), tuple(_cells(cards, columns, week=week, group=None)))
            for week in reversed(cards.window.weeks)
        )),
    }  # fmt: skip


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_rows(table: Table) -> Iterator[list[str]]:
    """The header, then a row per table row: each figure's value, numerator and denominator."""
    header = [table.first_column]
    for column in table.columns:
        key = column.csv_key
        header += [key, f"{key}_numerator", f"{key}_denominator"]
    yield [csv_safe(h) for h in header]
    for row in table.rows:
        out: list[Any] = [row.label]
        for cell in row.cells:
            f = cell.figure
            out += [None, None, None] if f is None else [f.value, f.numerator, f.denominator]
        yield [csv_safe(v) for v in out]


def drill_csv_rows(actions: Iterable) -> Iterator[list[str]]:
    yield ["action_id", "resolved_at", "agent", "action_type", "rule", "status", "amount",
           "currency", "in_numerator", "decision_seconds"]  # fmt: skip
    for a in actions:
        seconds = a.decision_time.total_seconds() if a.decision_time is not None else None
        row = [a.pk, a.resolved_at.isoformat(), a.agent.name, a.action_type.key, a.rule_name,
               a.status, a.amount, a.currency, a.in_numerator, seconds]  # fmt: skip
        yield [csv_safe(v) for v in row]


def charts_of(cards: Scorecards) -> list[tuple[str, Any]]:
    """A chart per figure over the window, overall: `(metric key, svg)`; money per currency."""
    labels = [f"{week:%m-%d}" for week in cards.window.weeks]
    out = []
    for metric in metrics.METRICS:
        if metric.kind == "money":
            for currency in cards.currencies():
                values = [
                    (week_money.get(currency) or Figure(0, 0, 0)).value
                    for week_money in cards.series(metric.key)
                ]
                out.append((metric.key, charts.bar_chart(
                    chart_id=f"chart-{metric.key}-{currency}",
                    title=f"{metric.label} ({currency})", labels=labels, values=values,
                    value_label=lambda v, c=currency: format_money(int(v), c),
                )))  # fmt: skip
            continue
        values = [figure.value for figure in cards.series(metric.key)]
        y_max = {"rate": 1.0, "mean": 5.0}.get(metric.kind)
        out.append((metric.key, charts.line_chart(
            chart_id=f"chart-{metric.key}", title=metric.label, labels=labels, values=values,
            value_label=lambda v, m=metric: value_text(m, v), y_max=y_max,
        )))  # fmt: skip
    return out

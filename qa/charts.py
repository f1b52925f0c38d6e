"""Small charts drawn by the server as SVG: a figure per week as a line or as bars, with a title
and labelled axes. Pure: no database, no JavaScript, nothing fetched; every label is escaped."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 360, 190
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 30, 38
MAX_X_LABELS = 6


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _scale(values: Sequence[float | None], y_max: float | None) -> float:
    present = [v for v in values if v is not None]
    top = max([y_max or 0.0, *present]) if present or y_max else 0.0
    return top if top > 0 else 1.0


def _frame(
    *, chart_id: str, title: str, labels: Sequence[str], top: float,
    value_label: Callable[[float], str], body: list[str],
) -> SafeString:  # fmt: skip
    base_y = HEIGHT - BOTTOM
    cid = _e(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-labelledby="{cid}-title">',
        f'<title id="{cid}-title">{_e(title)}</title>',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="600" fill="currentColor">'
        f"{_e(title)}</text>",
        # the axes, with the scale's bottom and top
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base_y}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{base_y}" x2="{WIDTH - RIGHT}" y2="{base_y}" stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{base_y}" font-size="10" text-anchor="end" '
        f'fill="currentColor">{_e(value_label(0))}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="10" text-anchor="end" '
        f'fill="currentColor">{_e(value_label(top))}</text>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" stroke="#ddd" '
        f'stroke-dasharray="3 3"/>',
    ]
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for i, label in enumerate(labels):
        last = len(labels) - 1
        # every step-th label, and the last one, without crowding it
        if i != last and (i % step or last - i < step):
            continue
        x = _x(i, len(labels))
        parts.append(
            f'<text x="{x:.1f}" y="{base_y + 14}" font-size="10" text-anchor="middle" '
            f'fill="currentColor">{_e(label)}</text>'
        )
    parts.extend(body)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text and attribute above is escaped


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + plot_w * (i + 0.5) / max(n, 1)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h * (1 - value / top)


def line_chart(
    *, chart_id: str, title: str, labels: Sequence[str], values: Sequence[float | None],
    value_label: Callable[[float], str] = str, y_max: float | None = None,
) -> SafeString:  # fmt: skip
    """A line through each week's value; a week without one breaks the line."""
    top = _scale(values, y_max)
    body, run = [], []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            run.append(None)
            continue
        x, y = _x(i, len(labels)), _y(value, top)
        run.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2563eb">'
            f"<title>{_e(label)}: {_e(value_label(value))}</title></circle>"
        )
    segments, current = [], []
    for point in [*run, None]:
        if point is None:
            if len(current) > 1:
                segments.append(current)
            current = []
        else:
            current.append(point)
    lines = [
        f'<polyline points="{" ".join(s)}" fill="none" stroke="#2563eb" stroke-width="2"/>'
        for s in segments
    ]
    return _frame(chart_id=chart_id, title=title, labels=labels, top=top,
                  value_label=value_label, body=lines + body)  # fmt: skip


def bar_chart(
    *, chart_id: str, title: str, labels: Sequence[str], values: Sequence[float | None],
    value_label: Callable[[float], str] = str, y_max: float | None = None,
) -> SafeString:  # fmt: skip
    """A bar per week; a week without a value has none."""
    top = _scale(values, y_max)
    plot_w = WIDTH - LEFT - RIGHT
    width = max(2.0, plot_w / max(len(labels), 1) * 0.7)
    base_y = HEIGHT - BOTTOM
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            continue
        x, y = _x(i, len(labels)) - width / 2, _y(value, top)
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{base_y - y:.1f}" '
            f'fill="#dc2626"><title>{_e(label)}: {_e(value_label(value))}</title></rect>'
        )
    return _frame(chart_id=chart_id, title=title, labels=labels, top=top,
                  value_label=value_label, body=body)  # fmt: skip

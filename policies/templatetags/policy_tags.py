"""Template helpers for the policy pages (the top bar's link to them asks the rulebook, in
config.nav)."""

from django import template

from policies import business_hours
from policies.engine import reads_agent_assertions

register = template.Library()


@register.filter
def reads_agent_context(condition) -> bool:
    """Whether a condition reads what the agent asserted (`context.*`): badged in the editor."""
    return isinstance(condition, str) and reads_agent_assertions(condition)


_DASH = "\u2013"  # an en dash, for ranges
_UNITS = ((24 * 3600, "d"), (3600, "h"), (60, "min"), (1, "s"))


@register.filter
def duration(seconds) -> str:
    """Seconds in the two largest units that say them: 900 -> "15 min", 5400 -> "1 h 30 min"."""
    if not isinstance(seconds, int) or seconds < 0:
        return "—"
    if seconds == 0:
        return "0 s"
    parts = []
    for size, unit in _UNITS:
        if seconds >= size and len(parts) < 2:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
        elif parts:
            break
    return " ".join(parts)


@register.filter
def weekly_hours_text(hours) -> str:
    """A tier's weekly hours in brief, runs of days with the same hours joined ("Mon-Fri
    09:00-17:00", with en dashes); empty hours count every hour: "24/7"."""
    if not hours:
        return "24/7"
    runs: list[list] = []  # [first day, last day, spans]
    for day in business_hours.DAYS:
        spans = hours.get(day) or []
        if not spans:
            continue
        if runs and runs[-1][2] == spans and _follows(runs[-1][1], day):
            runs[-1][1] = day
        else:
            runs.append([day, day, spans])
    return "; ".join(
        f"{_day(first)}{'' if first == last else _DASH + _day(last)} "
        + ", ".join(f"{start}{_DASH}{end}" for start, end in spans)
        for first, last, spans in runs
    )


def _follows(before: str, day: str) -> bool:
    return business_hours.DAYS.index(day) == business_hours.DAYS.index(before) + 1


def _day(day: str) -> str:
    return day.capitalize()

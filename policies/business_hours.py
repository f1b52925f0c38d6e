"""SLA clocks that count business time: a tier's weekly hours in its time zone, minus holidays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead a clock looks for business time before it gives up (a calendar with no hours).
_HORIZON_DAYS = 3 * 366


class CalendarProblem(ValueError):
    """The weekly hours, holidays or time zone cannot be read; the message says which."""


def _clock(value: str) -> time:
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        if value == "24:00":
            return time.max
        return time(hours, minutes)
    except (ValueError, AttributeError) as exc:
        raise CalendarProblem(f"{value!r} is not a time of day (HH:MM)") from exc


def check(*, time_zone: str, weekly_hours: dict, holidays: list) -> None:
    """Refuse a calendar that cannot be read, with a message a policy admin can act on."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarProblem(f"{time_zone!r} is not a time zone") from exc
    if not isinstance(weekly_hours, dict):
        raise CalendarProblem("weekly hours must map days (mon..sun) to [start, end] pairs")
    for day, spans in weekly_hours.items():
        if day not in DAYS:
            raise CalendarProblem(f"{day!r} is not a day; use one of {', '.join(DAYS)}")
        if not isinstance(spans, list):
            raise CalendarProblem(f"the hours of {day} must be a list of [start, end] pairs")
        for span in spans:
            if not (isinstance(span, list | tuple) and len(span) == 2):
                raise CalendarProblem(f"{span!r} on {day} is not a [start, end] pair")
            start, end = _clock(span[0]), _clock(span[1])
            if end <= start:
                raise CalendarProblem(f"{span[0]}-{span[1]} on {day} ends before it starts")
    if weekly_hours and not any(weekly_hours.values()):
        # A clock that never runs would leave every case of the tier without a due time.
        raise CalendarProblem(
            "the weekly hours open on no day; leave them empty to count every hour"
        )
    if not isinstance(holidays, list):
        raise CalendarProblem("holidays must be a list of dates (YYYY-MM-DD)")
    for day in holidays:
        try:
            date.fromisoformat(day)
        except (TypeError, ValueError) as exc:
            raise CalendarProblem(f"{day!r} is not a date (YYYY-MM-DD)") from exc


def _open_spans(start: datetime, tier) -> Iterator[tuple[datetime, datetime]]:
    """The tier's business hours from `start` on, as aware UTC spans in order."""
    zone = ZoneInfo(tier.time_zone or "UTC")
    holidays = {date.fromisoformat(d) for d in tier.holidays or ()}
    local = start.astimezone(zone)
    for offset in range(_HORIZON_DAYS):
        day = local.date() + timedelta(days=offset)
        if day in holidays:
            continue
        for opening, closing in tier.weekly_hours.get(DAYS[day.weekday()], ()):
            begin = datetime.combine(day, _clock(opening), zone).astimezone(UTC)
            end = datetime.combine(day, _clock(closing), zone).astimezone(UTC)
            if end > start:
                yield max(begin, start), end


def due_at(start: datetime, seconds: float, tier) -> datetime:
    """When `seconds` of the tier's time have passed after `start` (wall time without hours)."""
    if not tier.weekly_hours:
        return start + timedelta(seconds=seconds)
    left = timedelta(seconds=seconds)
    for begin, end in _open_spans(start, tier):
        if end - begin >= left:
            return begin + left
        left -= end - begin
    raise CalendarProblem(f"tier {tier.key} has no business hours within {_HORIZON_DAYS} days")


def elapsed(start: datetime, end: datetime, tier) -> float:
    """Seconds of the tier's time between `start` and `end`."""
    if end <= start:
        return 0.0
    if not tier.weekly_hours:
        return (end - start).total_seconds()
    total = 0.0
    for begin, close in _open_spans(start, tier):
        if begin >= end:
            break
        total += (min(close, end) - begin).total_seconds()
    return total

"""SLA clocks in business time: due times and elapsed time over weekends, holidays, DST and 24/7."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from policies import business_hours

OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
HOUR = 3600


def tier(weekly_hours=None, *, time_zone="Europe/London", holidays=()):
    return SimpleNamespace(
        key="t", time_zone=time_zone, weekly_hours=weekly_hours or {}, holidays=list(holidays)
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (tier, start, business seconds, due): every row also checks that `elapsed` from the start to the
# due time gives the seconds back. London is on GMT (UTC+0) in winter and BST (UTC+1) in summer.
CLOCKS = {
    "within-one-afternoon": (tier(OFFICE), "2026-01-07 10:00", 2 * HOUR, "2026-01-07 12:00"),
    "friday-afternoon-runs-over-the-weekend-to-monday": (
        tier(OFFICE), "2026-01-09 16:00", 2 * HOUR, "2026-01-12 10:00",
    ),
    "started-on-a-saturday-waits-for-monday-morning": (
        tier(OFFICE), "2026-01-10 12:00", HOUR, "2026-01-12 10:00",
    ),
    "a-holiday-friday-is-skipped": (
        tier(OFFICE, holidays=["2026-12-25"]), "2026-12-24 16:00", 2 * HOUR, "2026-12-28 10:00",
    ),
    "spring-forward-monday-opens-at-09:00-bst-which-is-08:00-utc": (
        tier(OFFICE), "2026-03-27 16:00", 2 * HOUR, "2026-03-30 09:00",
    ),
    "fall-back-friday-closes-at-17:00-bst-which-is-16:00-utc": (
        tier(OFFICE), "2026-10-23 15:00", 2 * HOUR, "2026-10-26 10:00",
    ),
    "a-full-week-of-office-hours-is-five-days": (
        tier(OFFICE), "2026-01-05 09:00", 40 * HOUR, "2026-01-09 17:00",
    ),
    "24/7-counts-the-weekend": (tier(), "2026-01-09 16:00", 2 * HOUR, "2026-01-09 18:00"),
    "24/7-ignores-holidays": (
        tier(holidays=["2026-12-25"]), "2026-12-24 23:00", 2 * HOUR, "2026-12-25 01:00",
    ),
    "24/7-counts-real-hours-across-the-dst-night": (
        tier(), "2026-03-29 00:30", 2 * HOUR, "2026-03-29 02:30",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("calendar", "start", "seconds", "due"), CLOCKS.values(), ids=CLOCKS)
def test_the_due_time_counts_only_business_time(calendar, start, seconds, due):
    due_at = business_hours.due_at(utc(start), seconds, calendar)

    assert due_at == utc(due)
    assert business_hours.elapsed(utc(start), due_at, calendar) == seconds


ELAPSED = {
    "over-a-weekend": (tier(OFFICE), "2026-01-09 12:00", "2026-01-12 12:00", 8 * HOUR),
    "over-a-holiday": (
        tier(OFFICE, holidays=["2026-12-25"]), "2026-12-24 12:00", "2026-12-28 12:00", 8 * HOUR,
    ),
    "over-the-spring-dst-change": (tier(OFFICE), "2026-03-27 08:00", "2026-03-30 08:00", 8 * HOUR),
    "outside-hours-only": (tier(OFFICE), "2026-01-10 00:00", "2026-01-11 23:59", 0),
    "24/7-over-a-weekend": (tier(), "2026-01-09 12:00", "2026-01-12 12:00", 72 * HOUR),
    "backwards-is-nothing": (tier(), "2026-01-09 12:00", "2026-01-09 11:00", 0),
}  # fmt: skip


@pytest.mark.parametrize(("calendar", "start", "end", "seconds"), ELAPSED.values(), ids=ELAPSED)
def test_elapsed_time_counts_only_business_time(calendar, start, end, seconds):
    assert business_hours.elapsed(utc(start), utc(end), calendar) == seconds


CALENDARS = {
    "unknown-time-zone": ({"time_zone": "Nowhere/Town"}, "is not a time zone"),
    "unknown-day": ({"weekly_hours": {"funday": [["09:00", "17:00"]]}}, "is not a day"),
    "not-a-time": ({"weekly_hours": {"mon": [["9am", "5pm"]]}}, "is not a time of day"),
    "not-a-pair": ({"weekly_hours": {"mon": [["09:00"]]}}, "is not a [start, end] pair"),
    "backwards": ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "ends before it starts"),
    "open-on-no-day": ({"weekly_hours": {"mon": []}}, "open on no day"),
    "not-a-date": ({"holidays": ["tomorrow"]}, "is not a date"),
}


@pytest.mark.parametrize(("calendar", "message"), CALENDARS.values(), ids=CALENDARS)
def test_a_calendar_that_cannot_be_read_is_refused_with_what_is_wrong(calendar, message):
    values = {"time_zone": "UTC", "weekly_hours": {}, "holidays": [], **calendar}

    with pytest.raises(business_hours.CalendarProblem, match=message.replace("[", r"\[")):
        business_hours.check(**values)

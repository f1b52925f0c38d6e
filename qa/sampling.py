"""Sampling, pure: the periods a plan draws, which of them are due, and the seeded draw itself.

Nothing here touches the database. `qa.services.sampling` reads the candidates (resolutions in the
period, as `Candidate`s) and writes what `draw` returns. The same plan, period and candidates
always give the same sample, in the same order, with the same explanation: the generator is seeded
with the plan's seed and the period's start, and the candidates are ordered by id before shuffling.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# A plan down longer than this draws the oldest periods first and the rest on the next runs.
MAX_CATCH_UP = 60

SCOPE_KEYS = ("action_types", "modes", "agents", "rules", "decided_by")
# The kinds of items always included, in the order an item is tagged when it is several.
INCLUSION_KINDS = (
    ("rollbacks", "rolled_back"),
    ("unattended_above", "unattended"),
    ("overridden", "overridden"),
    ("rubber_stamps", "rubber_stamped"),
    ("negative_outcomes", "negative_outcome"),
)
RANDOM = "random"


# ---------------------------------------------------------------------------------------------
# periods


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The period (daily or weekly, aligned in UTC, weeks starting on Monday) holding `moment`:
    [start, end)."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(weeks=1)
    raise ValueError(f"unknown period {period!r}")


def period_start_at_or_after(period: str, moment: datetime) -> datetime:
    """The first period start at or after `moment`."""
    start, end = period_bounds(period, moment)
    return start if start == moment.astimezone(UTC) else end


def next_period(plan, *, drawn_until: datetime | None = None) -> tuple[datetime, datetime]:
    """The next period `plan` draws: it is due at its end."""
    cursor = period_start_at_or_after(plan.period, plan.starts_at)
    if drawn_until is not None:
        cursor = max(cursor, period_start_at_or_after(plan.period, drawn_until))
    return period_bounds(plan.period, cursor)


@dataclass(frozen=True)
class DuePeriods:
    """The periods to draw now, oldest first, and how many more are due but left for later runs
    (never dropped: the next run starts after the last one drawn)."""

    periods: list[tuple[datetime, datetime]]
    deferred: int = 0
    deferred_from: datetime | None = None


def due_periods(
    plan, now: datetime, *, drawn_until: datetime | None = None, limit: int | None = None
) -> DuePeriods:
    """Every period of `plan` that ended by `now` and is not drawn yet, oldest first: from the
    first period starting at or after `plan.starts_at`, or after `drawn_until` (the end of the
    plan's latest sample) when later. At most `limit` (`MAX_CATCH_UP`); the others are reported
    as deferred."""
    limit = MAX_CATCH_UP if limit is None else limit
    cursor = next_period(plan, drawn_until=drawn_until)[0]
    periods: list[tuple[datetime, datetime]] = []
    deferred = 0
    deferred_from = None
    while True:
        start, end = period_bounds(plan.period, cursor)
        if end > now:
            break
        if len(periods) < limit:
            periods.append((start, end))
        else:
            deferred_from = deferred_from or start
            deferred += 1
        cursor = end
    return DuePeriods(periods=periods, deferred=deferred, deferred_from=deferred_from)


# ---------------------------------------------------------------------------------------------
# candidates and the draw


@dataclass(frozen=True)
class Candidate:
    """A resolution as the draw needs it (`qa.resolutions` flags, names rather than ids)."""

    id: Any  # the action's id (a UUID); candidates are ordered by it
    action_type: str
    mode: str
    agent: str
    rule: str
    by_person: bool = False
    unattended: bool = False
    overridden: bool = False
    rubber_stamped: bool = False
    rolled_back: bool = False
    negative_outcome: bool = False
    amount: int | None = None
    currency: str = ""


def matches(candidate: Candidate, where: Mapping[str, Any]) -> bool:
    """Whether `candidate` is in a scope or a stratum's `where` (empty lists and "any": all).
    `decided_by`: "person" when a person decided it, "none" when it executed without one."""
    pairs = (
        ("action_types", candidate.action_type),
        ("modes", candidate.mode),
        ("agents", candidate.agent),
        ("rules", candidate.rule),
    )
    for key, value in pairs:
        allowed = where.get(key) or ()
        if allowed and value not in allowed:
            return False
    decided_by = where.get("decided_by") or "any"
    if decided_by == "person":
        return candidate.by_person
    if decided_by == "none":
        return candidate.unattended
    return True


def inclusion_of(candidate: Candidate, inclusions: Mapping[str, Any]) -> str | None:
    """The first kind of always-included item `candidate` is, as its reason's suffix; None."""
    for key, kind in INCLUSION_KINDS:
        wanted = inclusions.get(key)
        if not wanted:
            continue
        if key == "unattended_above":
            if (
                candidate.unattended
                and candidate.amount is not None
                and candidate.currency == wanted.get("currency")
                and candidate.amount >= wanted.get("amount", 0)
            ):
                return kind
        elif getattr(candidate, kind):
            return kind
    return None


def seed_of(seed: str, period_start: datetime) -> int:
    return int(hashlib.sha256(f"{seed}:{period_start.isoformat()}".encode()).hexdigest(), 16)


def size_asked(*, size_count: int | None, size_percent: int | None, population: int) -> int:
    if size_count is not None:
        return size_count
    return math.ceil((size_percent or 0) * population / 100)


@dataclass(frozen=True)
class DrawnItem:
    candidate_id: Any
    reason: str


@dataclass
class Draw:
    """The sample, in rank order, and how it was drawn (what the sample page shows)."""

    items: list[DrawnItem] = field(default_factory=list)
    explanation: dict[str, Any] = field(default_factory=dict)


def draw(plan, candidates: Iterable[Candidate], *, period_start: datetime) -> Draw:
    """The seeded sample of `plan` for the period starting at `period_start`, from `candidates`
    (the period's resolutions in the plan's scope).

    Items always included come first, on top of the size (`included:<kind>`); then each stratum
    gets at least its minimum share of the size (`stratum:<name>`), or all its rows when fewer;
    then the rest of the size is filled at random (`random`)."""
    rows = sorted(candidates, key=lambda c: c.id)
    population = len(rows)
    # Reproducible on purpose, not secret: anyone with the seed may draw the sample again.
    rng = random.Random(seed_of(plan.seed, period_start))  # noqa: S311
    asked = size_asked(
        size_count=plan.size_count, size_percent=plan.size_percent, population=population
    )
    items: list[DrawnItem] = []
    asked_for = plan.inclusions or {}
    included = {kind: 0 for key, kind in INCLUSION_KINDS if asked_for.get(key)}
    rest: list[Candidate] = []
    for row in rows:
        kind = inclusion_of(row, asked_for)
        if kind is None:
            rest.append(row)
        else:
            items.append(DrawnItem(row.id, f"included:{kind}"))
            included[kind] += 1
    rng.shuffle(rest)
    target = min(asked, len(rest))
    picked: set[int] = set()
    strata: list[dict[str, Any]] = []
    for stratum in plan.strata or ():
        pool = [row for row in rest if matches(row, stratum.get("where") or {})]
        want = math.ceil(stratum["min_percent"] * asked / 100)
        given = 0
        for row in pool:
            if given >= want or len(picked) >= target:
                break
            if row.id not in picked:
                picked.add(row.id)
                items.append(DrawnItem(row.id, f"stratum:{stratum['name']}"))
                given += 1
        strata.append(
            {"name": stratum["name"], "asked": want, "given": given, "available": len(pool)}
        )
    randoms = 0
    for row in rest:
        if len(picked) >= target:
            break
        if row.id not in picked:
            picked.add(row.id)
            items.append(DrawnItem(row.id, RANDOM))
            randoms += 1
    explanation = {
        "seed": plan.seed,
        "period_start": period_start.isoformat(),
        "population": population,
        "size": {"count": plan.size_count, "percent": plan.size_percent},
        "size_asked": asked,
        "size_given": len(picked),
        "included": included,
        "strata": strata,
        "random": randoms,
        "items": len(items),
    }
    return Draw(items=items, explanation=explanation)

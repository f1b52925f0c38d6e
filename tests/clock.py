"""The tests' one clock: freeze and move time, and wait for an expected event with a deadline.

Time in the test process is frozen with time-machine (`tick=False`), which also stops the clock
`config.clock.now()` reads. `time.monotonic()` and `time.sleep()` are left running, so deadlines
and the servers and workers the tests start keep real time. Nothing here sleeps to synchronise:
`wait_for` polls for something that must happen and fails, naming it, when it does not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import time_machine


@contextmanager
def frozen(at: datetime | None = None) -> Iterator[time_machine.Traveller]:
    """Stop the clock at `at` (by default now, to the second, so rows written by the database's
    own clock stay near it); move it with `.shift(timedelta)` or `.move_to(moment)`."""
    start = at or datetime.now(UTC).replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        yield clock


def wait_for[T](
    predicate: Callable[[], T], *, deadline: float = 20.0, what: str, interval: float = 0.05
) -> T:
    """Poll `predicate()` until it is truthy and return that value; if it is still falsy after
    `deadline` seconds, fail saying `what` did not happen and what the predicate last gave."""
    give_up_at = time.monotonic() + deadline
    value = predicate()
    while not value:
        if time.monotonic() >= give_up_at:
            raise AssertionError(f"{what}: not within {deadline:g}s (last seen: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


async def wait_for_async[T](
    predicate: Callable[[], T], *, deadline: float = 10.0, what: str, interval: float = 0.01
) -> T:
    """`wait_for` for a test running on an event loop: polls without blocking the loop, so the
    tasks it waits on keep running."""
    give_up_at = time.monotonic() + deadline
    value = predicate()
    while not value:
        if time.monotonic() >= give_up_at:
            raise AssertionError(f"{what}: not within {deadline:g}s (last seen: {value!r})")
        await asyncio.sleep(interval)
        value = predicate()
    return value

"""Circuit breakers as people manage them: define or change one, and reset a tripped one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from agents.models import Agent, BreakerCounter, BreakerTrip, CircuitBreaker
from approvals import rulebook
from approvals.breakers import (
    COUNTABLE_MODES,
    breaker_definitions_clear,
    publish_breakers_changed,
)
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from policies.models import Mode

MAX_WINDOW_SECONDS = 7 * 24 * 3600
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ACTION_TYPE_GLOB = re.compile(r"^[A-Za-z0-9_.*?-]{1,64}$")


def breaker_reset(
    *,
    breaker_id: Any,
    by,
    reason: str,
    agent_name: str | None = None,
    request_id: str = "",
) -> list[BreakerTrip]:
    """Close the open trips of a breaker (one agent's, or all), with a reason; audited."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required to reset a breaker.", code=Code.REASON_REQUIRED)
    person = rulebook.person_of(by)
    rulebook.enforce(rulebook.may_reset_breaker(person))
    try:
        breaker_pk = int(breaker_id)
    except (TypeError, ValueError):
        breaker_pk = None
    with transaction.atomic(durable=True):
        breaker = CircuitBreaker.objects.filter(pk=breaker_pk).first() if breaker_pk else None
        if breaker is None:
            raise NotFound("No such breaker.", code=Code.BREAKER_NOT_FOUND)
        counters = BreakerCounter.objects.select_for_update(of=("self",)).filter(
            breaker=breaker, open_trip__isnull=False
        )
        if agent_name:
            counters = counters.filter(agent__name=agent_name)
        counters = list(counters.select_related("agent").order_by("id"))
        agent_ids = {counter.agent_id for counter in counters}
        rulebook.enforce(rulebook.may_reset_breaker(person, agent_ids=agent_ids))
        if not counters:
            raise Conflict(
                f"Breaker `{breaker.name}` is not tripped"
                + (f" for agent `{agent_name}`." if agent_name else "."),
                code=Code.BREAKER_NOT_TRIPPED,
            )
        now = clock.now()
        trips = []
        for counter in counters:
            trip = BreakerTrip.objects.select_for_update().get(pk=counter.open_trip_id)
            trip.reset_at, trip.reset_by, trip.reset_reason = now, by, reason
            trip.save(update_fields=["reset_at", "reset_by", "reset_reason"])
            counter.open_trip, counter.counting_since = None, now
            counter.save(update_fields=["open_trip", "counting_since"])
            audit_record(
                actor=Actor.user(by.pk),
                verb=Verb.BREAKER_RESET,
                object_type="breaker",
                object_id=breaker.pk,
                data={
                    "breaker": breaker.name,
                    "agent": counter.agent.name,
                    "trip_id": trip.pk,
                    "tripped_at": trip.tripped_at,
                    "reason": reason,
                },
                request_id=request_id,
            )
            trips.append(trip)
        transaction.on_commit(publish_breakers_changed)
    return trips


_DEFINITION_FIELDS = (
    "action_type", "agent_id", "max_count", "max_amount", "window_seconds", "modes", "label",
    "is_active",
)  # fmt: skip


def _validated(
    *,
    name: str,
    action_type: str,
    agent_name: str | None,
    max_count: int | None,
    max_amount: int | None,
    window_seconds: int,
    modes: Iterable[str],
    label: str,
) -> dict[str, Any]:
    def whole(value, field: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(
                f"{field} must be a whole number of at least 1.", code=Code.INVALID_BREAKER
            )
        return value

    if not _NAME.match(name or ""):
        raise InvalidInput(
            "A breaker name is a slug of 1 to 64 characters.", code=Code.INVALID_BREAKER
        )
    if not _ACTION_TYPE_GLOB.match(action_type or ""):
        raise InvalidInput(
            "action_type is an action type key or a glob such as refund.*.",
            code=Code.INVALID_BREAKER,
        )
    max_count, max_amount = whole(max_count, "max_count"), whole(max_amount, "max_amount")
    if max_count is None and max_amount is None:
        raise InvalidInput(
            "A breaker needs max_count, max_amount or both.", code=Code.INVALID_BREAKER
        )
    window = whole(window_seconds, "window_seconds")
    if window is None or window > MAX_WINDOW_SECONDS:
        raise InvalidInput(
            f"window_seconds is from 1 to {MAX_WINDOW_SECONDS}.", code=Code.INVALID_BREAKER
        )
    modes = sorted({str(mode) for mode in modes})
    if not modes or not set(modes) <= COUNTABLE_MODES:
        raise InvalidInput(
            f"modes are some of {', '.join(sorted(COUNTABLE_MODES))}.", code=Code.INVALID_BREAKER
        )
    agent_id = None
    if agent_name:
        agent_id = Agent.objects.filter(name=agent_name).values_list("pk", flat=True).first()
        if agent_id is None:
            raise InvalidInput(f"No agent named {agent_name!r}.", code=Code.UNKNOWN_AGENT)
    return {
        "action_type": action_type,
        "agent_id": agent_id,
        "max_count": max_count,
        "max_amount": max_amount,
        "window_seconds": window,
        "modes": modes,
        "label": (label or "actions")[:40],
    }


def breaker_save(
    *,
    name: str,
    action_type: str,
    window_seconds: int,
    max_count: int | None = None,
    max_amount: int | None = None,
    agent_name: str | None = None,
    modes: Iterable[str] = (Mode.EXECUTE_LIMITED.value,),
    label: str = "actions",
    is_active: bool = True,
    actor: Actor | None = None,
) -> tuple[CircuitBreaker, bool]:
    """Create or change a breaker by name; (breaker, changed). Nothing is written when unchanged."""
    values = _validated(
        name=name, action_type=action_type, agent_name=agent_name, max_count=max_count,
        max_amount=max_amount, window_seconds=window_seconds, modes=modes, label=label,
    )  # fmt: skip
    values["is_active"] = bool(is_active)
    with transaction.atomic(durable=True):
        breaker = CircuitBreaker.objects.select_for_update().filter(name=name).first()
        if breaker is not None and all(
            getattr(breaker, field) == values[field] for field in _DEFINITION_FIELDS
        ):
            return breaker, False
        if breaker is None:
            breaker = CircuitBreaker.objects.create(name=name, **values)
        else:
            for field, value in values.items():
                setattr(breaker, field, value)
            breaker.save()
        audit_record(
            actor=actor or Actor.system("cli"),
            verb=Verb.BREAKER_SAVED,
            object_type="breaker",
            object_id=breaker.pk,
            data={"name": name, "agent": agent_name or "", **values},
        )
        transaction.on_commit(breaker_definitions_clear)
    breaker_definitions_clear()  # also when the caller's test transaction never commits
    return breaker, True

"""Circuit breakers: rolling caps per agent and action type that hold further actions for a human.

A breaker counts one agent's covered actions (by default those executed without a human) in a
rolling window, straight from the actions table, which stays the only tally. `breaker_apply` runs
inside the submit transaction: it locks the (breaker, agent) counter row first, so concurrent
submissions count one after the other, and a trip commits together with the action it holds.
A tripped breaker holds every further covered action until a person resets it with a reason;
counting starts afresh from the reset.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum

from agents.models import Agent, BreakerCounter, BreakerTrip, CircuitBreaker
from approvals import rulebook
from approvals.models import Action
from approvals.realtime import publish
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from policies.engine import Decision
from policies.models import ActionType, Mode
from policies.money import format_money

logger = logging.getLogger(__name__)

# Definitions change rarely and the submit path is CPU-bound: each process keeps them this long.
# Trip and reset state is never cached (it lives on the locked counter row).
DEFINITIONS_TTL_SECONDS = 5.0
COUNTABLE_MODES = frozenset({Mode.EXECUTE_LIMITED.value, Mode.EXECUTE_GATED.value})
HOLD_ROLE = "supervisor"
MAX_WINDOW_SECONDS = 7 * 24 * 3600
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ACTION_TYPE_GLOB = re.compile(r"^[A-Za-z0-9_.*?-]{1,64}$")


def _glob_regex(glob: str) -> str:
    """`*` and `?` as in rules; everything else literal. Valid in Python and PostgreSQL alike."""
    parts = []
    for char in glob:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char.isalnum() or char == "_":
            parts.append(char)
        else:
            parts.append("\\" + char)
    return "".join(parts)


@dataclass(frozen=True)
class _Definition:
    id: int
    name: str
    action_type: str
    regex: str
    pattern: re.Pattern[str]
    agent_id: int | None
    max_count: int | None
    max_amount: int | None
    window_seconds: int
    modes: frozenset[str]
    label: str

    @classmethod
    def of(cls, breaker: CircuitBreaker) -> _Definition:
        regex = _glob_regex(breaker.action_type)
        return cls(
            id=breaker.pk,
            name=breaker.name,
            action_type=breaker.action_type,
            regex=regex,
            pattern=re.compile(regex),
            agent_id=breaker.agent_id,
            max_count=breaker.max_count,
            max_amount=breaker.max_amount,
            window_seconds=breaker.window_seconds,
            modes=frozenset(breaker.modes or [Mode.EXECUTE_LIMITED.value]),
            label=breaker.label or "actions",
        )

    def covers(self, *, agent_id: int, action_type: str, mode: str) -> bool:
        return (
            mode in self.modes
            and (self.agent_id is None or self.agent_id == agent_id)
            and self.pattern.fullmatch(action_type) is not None
        )

    @property
    def is_glob(self) -> bool:
        return "*" in self.action_type or "?" in self.action_type


class _Definitions:
    """Active breaker definitions, loaded with one query and kept per process for a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[_Definition] = []
        self._loaded_at: float | None = None

    def get(self) -> list[_Definition]:
        now = time.monotonic()
        loaded_at = self._loaded_at
        if loaded_at is None or now - loaded_at > DEFINITIONS_TTL_SECONDS:
            items = [
                _Definition.of(b)
                for b in CircuitBreaker.objects.filter(is_active=True).order_by("id")
            ]
            with self._lock:
                self._items, self._loaded_at = items, now
            return items
        return self._items

    def clear(self) -> None:
        with self._lock:
            self._loaded_at = None


_definitions = _Definitions()


def breaker_definitions_clear() -> None:
    """Forget this process's cached definitions (other processes catch up within the TTL)."""
    _definitions.clear()


# ---------------------------------------------------------------------------------------------
# the submit path


def breaker_apply(
    *, agent: Agent, action_type: ActionType, params: dict[str, Any], decision: Decision
) -> Decision:
    """The policy's decision, held for a human when a breaker covering it is or now becomes tripped.

    Runs inside the submit transaction, before the action is inserted: the counter row locks are
    held until commit, so the next submission for the same agent and breaker counts this one.
    No query at all when no active breaker covers the action type, agent and mode.
    """
    now = None
    for definition in _definitions.get():  # ordered by id: locks are always taken in one order
        if not definition.covers(
            agent_id=agent.pk, action_type=action_type.key, mode=decision.mode
        ):
            continue
        if not connection.in_atomic_block:
            raise RuntimeError("breaker_apply must run inside the submit transaction")
        now = now or clock.now()
        explanation = _check(
            definition, agent=agent, action_type=action_type, params=params, now=now
        )
        if explanation:
            decision = _held(decision, explanation)
    return decision


def _held(decision: Decision, explanation: str) -> Decision:
    if decision.mode != Mode.EXECUTE_LIMITED:
        return decision  # already waits for a human (or something stricter)
    return dataclasses.replace(
        decision,
        mode=Mode.EXECUTE_GATED.value,
        approvals_required=1,
        approver_role=HOLD_ROLE,
        explanation=explanation,
    )


def _lock_counter(
    definition: _Definition, agent_id: int
) -> tuple[datetime | None, int | None] | None:
    """Create or lock the (breaker, agent) row in one statement; None if the breaker is gone.

    ON CONFLICT DO UPDATE takes the row lock like SELECT FOR UPDATE and, under READ COMMITTED,
    returns the latest committed version once a competing transaction has finished.
    """
    table = BreakerCounter._meta.db_table
    breakers = CircuitBreaker._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (breaker_id, agent_id) "  # noqa: S608 - table names from models
            f"SELECT id, %s FROM {breakers} WHERE id = %s AND is_active "
            "ON CONFLICT (breaker_id, agent_id) DO UPDATE SET agent_id = EXCLUDED.agent_id "
            "RETURNING counting_since, open_trip_id",
            [agent_id, definition.id],
        )
        return cursor.fetchone()


def _listing_money(params: dict[str, Any]) -> tuple[int | None, str]:
    # The same reading as the action's listing columns, which are what the window sums.
    amount = params.get("amount")
    if not (isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0):
        amount = None
    return amount, str(params.get("currency", ""))[:3]


def _check(
    definition: _Definition,
    *,
    agent: Agent,
    action_type: ActionType,
    params: dict[str, Any],
    now: datetime,
) -> str | None:
    """The hold explanation when this breaker is tripped for the agent, tripping it if need be."""
    row = _lock_counter(definition, agent.pk)
    if row is None:
        return None  # deactivated or deleted since this process cached it
    counting_since, open_trip_id = row
    if open_trip_id is not None:
        return BreakerTrip.objects.values_list("explanation", flat=True).get(pk=open_trip_id)

    # A statement of its own, after the lock: under READ COMMITTED it takes a fresh snapshot, so it
    # sees what the transaction that held the lock before us committed. (One statement joining the
    # upsert to the sum would read the actions as of before the lock wait, and overshoot.)
    since = now - timedelta(seconds=definition.window_seconds)
    if counting_since is not None and counting_since > since:
        since = counting_since
    covered = Action.objects.filter(
        agent_id=agent.pk, created_at__gte=since, mode__in=sorted(definition.modes)
    )
    if definition.is_glob:
        covered = covered.filter(action_type__key__regex=f"^{definition.regex}$")
    else:
        covered = covered.filter(action_type_id=action_type.pk)
    per_currency = {
        row["currency"]: (row["n"], row["total"])
        for row in covered.values("currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    }
    amount, currency = _listing_money(params)
    count = sum(n for n, _ in per_currency.values()) + 1
    total = None
    if amount is not None:
        total = (per_currency.get(currency, (0, 0))[1] or 0) + amount

    over_count = definition.max_count is not None and count > definition.max_count
    over_amount = (
        definition.max_amount is not None and total is not None and total > definition.max_amount
    )
    if not (over_count or over_amount):
        return None
    return _trip(definition, agent=agent, count=count, total=total, currency=currency, now=now)


def _window_text(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _trip(
    definition: _Definition,
    *,
    agent: Agent,
    count: int,
    total: int | None,
    currency: str,
    now: datetime,
) -> str:
    money = f" / {format_money(total, currency)}" if total is not None else ""
    explanation = (
        f"breaker `{definition.name}` tripped for agent `{agent.name}` "
        f"({count} {definition.label}{money} in {_window_text(definition.window_seconds)}): "
        "held for a human"
    )[:300]
    trip = BreakerTrip.objects.create(
        breaker_id=definition.id,
        agent=agent,
        tripped_at=now,
        action_count=count,
        amount=total,
        currency=currency if total is not None else "",
        explanation=explanation,
    )
    BreakerCounter.objects.filter(breaker_id=definition.id, agent=agent).update(open_trip=trip)
    audit_record(
        actor=Actor.system("breaker"),
        verb=Verb.BREAKER_TRIPPED,
        object_type="breaker",
        object_id=definition.id,
        data={
            "breaker": definition.name,
            "agent": agent.name,
            "trip_id": trip.pk,
            "count": count,
            "amount": total,
            "currency": trip.currency,
            "max_count": definition.max_count,
            "max_amount": definition.max_amount,
            "window_seconds": definition.window_seconds,
        },
    )
    transaction.on_commit(_publish_breakers_changed)
    return explanation


def _publish_breakers_changed() -> None:
    """One small event; each dashboard consumer renders the banner from the database."""
    try:
        publish.group_send(publish.DASHBOARD_GROUP, {"type": publish.BREAKER_CHANGED})
    except Exception:
        logger.exception("could not publish a breaker push to the dashboards")


# ---------------------------------------------------------------------------------------------
# use cases


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
    rulebook.enforce(rulebook.may_reset_breaker(rulebook.person_of(by)))
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
        transaction.on_commit(_publish_breakers_changed)
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

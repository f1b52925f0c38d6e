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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum

from agents.models import Agent, BreakerCounter, BreakerTrip, CircuitBreaker
from approvals.models import Action
from approvals.realtime import publish
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from policies.engine import Decision
from policies.models import ActionType, Mode
from policies.money import format_money, money_in

logger = logging.getLogger(__name__)

# Definitions change rarely and the submit path is CPU-bound: each process keeps them this long.
# Trip and reset state is never cached (it lives on the locked counter row).
DEFINITIONS_TTL_SECONDS = 5.0
COUNTABLE_MODES = frozenset({Mode.EXECUTE_LIMITED.value, Mode.EXECUTE_GATED.value})
HOLD_ROLE = "supervisor"


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


def breaker_open_trips_of(agent: Agent) -> list[tuple[int, str]]:
    """The open trips holding `agent`'s actions, as (trip id, explanation): one query."""
    return list(
        BreakerTrip.objects.filter(
            pk__in=BreakerCounter.objects.filter(agent=agent, open_trip__isnull=False).values(
                "open_trip_id"
            )
        )
        .order_by("id")
        .values_list("id", "explanation")
    )


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
    amount, currency = money_in(params)
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
    transaction.on_commit(publish_breakers_changed)
    return explanation


def publish_breakers_changed() -> None:
    """One small event; each dashboard consumer renders the banner from the database."""
    try:
        publish.group_send(publish.DASHBOARD_GROUP, {"type": publish.BREAKER_CHANGED})
    except Exception:
        logger.exception("could not publish a breaker push to the dashboards")

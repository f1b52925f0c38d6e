"""Reading circuit breakers and their trips for dashboards and the API."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Prefetch, QuerySet

from agents.models import Agent, ApiKey, BreakerTrip, CircuitBreaker
from config.errors import Code, NotFound


def _key_holder_sql() -> tuple[str, list[str]]:
    agent_fields = Agent._meta.concrete_fields
    columns = ", ".join(f'a."{f.column}"' for f in agent_fields)
    # Every name here comes from the models' metadata; the prefix is a parameter.
    sql = (
        f'SELECT k."hashed_key", {columns} FROM "{ApiKey._meta.db_table}" k '  # noqa: S608
        f'JOIN "{Agent._meta.db_table}" a ON a."id" = k."agent_id" '
        'WHERE k."prefix" = %s AND k."revoked_at" IS NULL AND a."is_active" LIMIT 1'
    )
    return sql, [f.attname for f in agent_fields]


_KEY_HOLDER_SQL, _AGENT_ATTNAMES = _key_holder_sql()


def key_holder(*, prefix: str) -> tuple[Agent, str] | None:
    """The active agent holding the unrevoked API key `prefix` (unique), with the key's hash; or
    None. One query, written as SQL from the models' own columns: it runs on every request of
    every agent, where the ORM's building of it cost ten times the query itself
    (bench/submit_inprocess.py)."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_HOLDER_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    return Agent.from_db(connection.alias, _AGENT_ATTNAMES, row[1:]), row[0]


def breaker_open_trips() -> list[BreakerTrip]:
    """Every open trip, oldest first, with its breaker and agent: one query."""
    return list(
        BreakerTrip.objects.filter(reset_at__isnull=True)
        .select_related("breaker", "agent")
        .order_by("tripped_at", "id")
    )


def _with_open_trips(qs: QuerySet[CircuitBreaker]) -> QuerySet[CircuitBreaker]:
    open_trips = (
        BreakerTrip.objects.filter(reset_at__isnull=True)
        .select_related("agent")
        .order_by("tripped_at", "id")
    )
    return qs.select_related("agent").prefetch_related(
        Prefetch("trips", queryset=open_trips, to_attr="open_trips")
    )


def breakers_list() -> list[CircuitBreaker]:
    """All breakers by name, each with `open_trips`: two queries."""
    return list(_with_open_trips(CircuitBreaker.objects.all()).order_by("name", "id"))


def breaker_get(*, breaker_id: Any) -> CircuitBreaker:
    breaker = _with_open_trips(CircuitBreaker.objects.filter(pk=breaker_id)).first()
    if breaker is None:
        raise NotFound("No such breaker.", code=Code.BREAKER_NOT_FOUND)
    return breaker

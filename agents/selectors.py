"""Reading circuit breakers and their trips for dashboards and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from agents.models import BreakerTrip, CircuitBreaker
from config.errors import Code, NotFound


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

"""Handing work to people: approvals opens escalation cases through the desk registered here.

The escalations app sits above approvals (a case is resolved by deciding its action through
approvals' services), so approvals cannot import it. Instead escalations registers its desk at
start-up (`EscalationsConfig.ready`), and approvals asks it three things: open a case, say which
case an action has, count the cases a person has open. Opening joins the caller's transaction: a
case commits with the status change that caused it, or neither does; nothing escalated is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models


class Source(models.TextChoices):
    """Why a case was opened."""

    POLICY = "policy", "Policy rule"
    AGENT = "agent", "Agent hand-off"
    FAILURE = "failure", "Execution failed"
    RECONCILIATION = "reconciliation", "Needs reconciliation"
    ROLLBACK = "rollback", "Rollback failed"
    TIMEOUT = "timeout", "SLA timeout"
    BREAKER = "breaker", "Circuit breaker tripped"
    PERSON = "person", "Escalated by a person"


class Desk(Protocol):
    def open_case(
        self, *, source: Source, reason: str, actor: Any, action: Any = None,
        agent_id: int | None = None, tier: str = "", summary: dict | None = None,
        linked_action_ids: Iterable[Any] = (), by: Any = None,
    ) -> Any: ...  # fmt: skip

    def case_of_action(self, *, action_id: Any) -> dict[str, Any] | None: ...

    def open_count(self, *, person: Any) -> int: ...


_desk: Desk | None = None


def register(desk: Desk) -> None:
    global _desk
    _desk = desk


def desk() -> Desk:
    if _desk is None:
        raise ImproperlyConfigured(
            "No escalation desk is registered: add 'escalations' to INSTALLED_APPS."
        )
    return _desk

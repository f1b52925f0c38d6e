"""The SLA sweep (beat, and `manage.py sla_sweep`): actions first, then cases.

A case whose tier's acknowledge SLA (while open) or resolve SLA passed moves to the next tier, its
clocks starting when the previous tier's ran out: a sweep after downtime walks a case up as many
tiers as came due, never further. At the last tier the case stays, breached, and its handlers are
told again every `renotify_seconds` until someone acts. Idempotent: a second sweep finds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q

from approvals.services.sweeps import actions_enforce_sla
from audit.events import Verb
from audit.services import Actor
from config import clock
from escalations.models import CaseStatus, Escalation
from escalations.selectors import UNRESOLVED
from escalations.services.kernel import enter_tier, move_case, tell
from escalations.transitions import Move
from notifications.events import Event


def slas_sweep(*, limit: int = 500) -> dict[str, int]:
    """One sweep of every SLA clock: actions waiting for a person, then cases."""
    return {**actions_enforce_sla(limit=limit), **cases_enforce_sla(limit=limit)}


def _due(case: Escalation, now) -> tuple[str, object] | None:
    """Which of the case's clocks ran out first, and when; None when neither has."""
    if case.breached_at is not None:
        return None
    if case.status == CaseStatus.OPEN and case.ack_due_at <= now:
        return "acknowledge", case.ack_due_at
    if case.resolve_due_at <= now:
        return "resolve", case.resolve_due_at
    return None


def _escalate(case: Escalation, clock_name: str, due_at, *, now) -> bool:
    """Move the case on from the tier whose `clock_name` SLA ran out at `due_at`: to the next tier
    (True), or, at the last one, mark it breached (False)."""
    actor = Actor.system("sla")
    previous = case.tier
    data = {"clock": clock_name, "due_at": due_at.isoformat()}
    if previous.next_tier_id is not None:
        enter_tier(case, previous.next_tier, at=due_at)
        case.assignee = None
        move_case(case, Move.NEXT_TIER, actor=actor, verb=Verb.ESCALATION_TIER_MOVED,
                  data={**data, "from_tier": previous.key}, previous_tier=previous.key)  # fmt: skip
        subject = f"Escalated from {previous.name}: its {clock_name} SLA passed"
        tell(case, Event.CASE_OPENED, subject=subject)
        return True
    case.breached_at = due_at
    case.renotify_at = now + timedelta(seconds=previous.renotify_seconds)
    case.warn_at = None
    move_case(case, Move.BREACH, actor=actor, verb=Verb.ESCALATION_BREACHED, data=data)
    tell(case, Event.SLA_BREACHED, subject=f"SLA breached in {previous.name}")
    return False


def cases_enforce_sla(*, limit: int = 500) -> dict[str, int]:
    now = clock.now()
    counts = {"tier_moves": 0, "breached": 0, "renotified": 0, "case_warnings": 0}
    with transaction.atomic(durable=True):
        cases = list(
            Escalation.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("tier", "tier__next_tier", "action")
            .filter(status__in=UNRESOLVED)
            .filter(
                Q(status=CaseStatus.OPEN, ack_due_at__lte=now, breached_at__isnull=True)
                | Q(resolve_due_at__lte=now, breached_at__isnull=True)
                | Q(renotify_at__lte=now)
                | Q(warn_at__lte=now)
            )
            .order_by("id")[:limit]
        )
        for case in cases:
            while (due := _due(case, now)) is not None:
                # The next tier's clocks may have run out too while nobody swept.
                counts["tier_moves" if _escalate(case, *due, now=now) else "breached"] += 1
            if case.renotify_at is not None and case.renotify_at <= now:
                # Told again, once per sweep however long nobody swept; then on the interval.
                case.renotify_at = now + timedelta(seconds=case.tier.renotify_seconds)
                case.save(update_fields=["renotify_at"])
                tell(case, Event.SLA_BREACHED, subject=f"Still breached in {case.tier.name}")
                counts["renotified"] += 1
            if case.warn_at is not None and case.warn_at <= now:
                case.warn_at = None
                case.save(update_fields=["warn_at"])
                tell(case, Event.SLA_WARNING, subject=f"SLA at 80 % in {case.tier.name}")
                counts["case_warnings"] += 1
    return counts

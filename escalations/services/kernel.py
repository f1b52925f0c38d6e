"""What every case use case does inside its transaction: lock, ask, move, record, tell.

`lock_case` locks the row (and reads it for the rulebook); `move_case` applies the case table,
bumps the version, writes the audit event, and schedules the push to the workspaces on commit;
`enter_tier` starts a tier's clocks; `tell` writes the notifications of a change (sent on commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals import rulebook
from approvals.models import Queue
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, InvalidInput, NotFound
from escalations import live
from escalations.models import Escalation
from escalations.selectors import case_facts, parse_case_id
from escalations.transitions import Move, target_of
from notifications.events import Event
from notifications.services import notify
from policies import business_hours
from policies.models import Tier

# "SLA at 80 %": the share of the resolve SLA after which the tier is warned.
WARN_SHARE = 0.8


def lock_case(case_id: Any) -> Escalation:
    case = (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("tier", "acknowledged_by", "action", "action__action_type")
        .filter(pk=parse_case_id(case_id))
        .first()
    )
    if case is None:
        raise NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND)
    return case


def lock_case_for(case_id: Any, by, question) -> tuple[Escalation, rulebook.Person]:
    """Lock a case a person acts on, once the rulebook's `question` allows it (a case they may not
    see reads as unknown)."""
    case = lock_case(case_id)
    person = rulebook.person_of(by)
    facts = case_facts(case)
    rulebook.enforce(rulebook.may_see_case(person, facts))
    rulebook.enforce(question(person, facts))
    return case, person


def tier_named(key: str) -> Tier:
    tier = Tier.objects.select_related("next_tier").filter(key=key).first()
    if tier is None:
        raise InvalidInput(f"There is no escalation tier {key!r}.", code=Code.UNKNOWN_TIER,
                           details={"tier": key})  # fmt: skip
    return tier


def enter_tier(case: Escalation, tier: Tier, *, at: datetime) -> None:
    """The case is now the tier's, with the tier's clocks started `at` (a sweep that catches up
    passes the moment the previous tier's SLA ran out, not the moment it ran)."""
    case.tier = tier
    case.tier_entered_at = at
    case.ack_due_at = business_hours.due_at(at, tier.ack_sla_seconds, tier)
    case.resolve_due_at = business_hours.due_at(at, tier.resolve_sla_seconds, tier)
    case.acknowledged_by = None
    case.acknowledged_at = None
    case.breached_at = None
    case.warn_at = business_hours.due_at(at, tier.resolve_sla_seconds * WARN_SHARE, tier)
    case.renotify_at = None


def move_case(
    case: Escalation, move: Move, *, actor: Actor, verb: Verb, data: dict | None = None,
    previous_tier: str | None = None, request_id: str = "",
) -> None:  # fmt: skip
    before = case.status
    case.status = target_of(move, before)
    case.version += 1
    case.updated_at = clock.now()
    case.save()
    audit_record(
        actor=actor, verb=verb, object_type="escalation", object_id=case.pk,
        data={"from": before, "to": case.status, "tier": case.tier.key, **(data or {})},
        request_id=request_id,
    )  # fmt: skip
    live.push_case_on_commit(case, previous_tier=previous_tier)


def tell(case: Escalation, event: Event, *, subject: str) -> int:
    """Tell the subscribers of the case's tier (written now, sent on commit)."""
    action = case.action
    return notify(
        event=event,
        subject=subject,
        text=case.reason,
        path=f"/escalations/{case.pk}/",
        tier=case.tier.key,
        # Subscriptions name the default queue by its name; an action holds it as "".
        queue=(action.queue or Queue.DEFAULT_NAME) if action else "",
        amount=action.amount if action else None,
        currency=action.currency if action else "",
        action_id=str(action.pk) if action else None,
        case_id=case.pk,
    )

"""Opening cases: from every source, always into a tier, never twice for one action."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from approvals.handoff import Source
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from escalations import live, selectors
from escalations.models import CaseStatus, Escalation
from escalations.services.kernel import enter_tier, tell
from escalations.summary import summary_of
from notifications.events import Event
from policies.models import Tier

logger = logging.getLogger(__name__)


def tier_for(key: str = "") -> Tier:
    """The tier named `key`, or the default tier when it names none or one that no longer exists:
    a case must reach people even when a rule names a tier that was removed."""
    tiers = Tier.objects.select_related("next_tier")
    tier = tiers.filter(key=key).first() if key else None
    if tier is None:
        if key:
            logger.warning("escalation tier %r does not exist; the case goes to the default", key)
        tier = tiers.filter(is_default=True).first() or tiers.order_by("id").first()
    if tier is None:
        # Migration 0005 of policies creates one; a deployment that deleted every tier gets it back.
        tier = Tier.objects.create(
            key="default", name="Default", handler_group="senior_supervisor", is_default=True
        )
    return tier


def case_open(
    *, source: Source, reason: str, actor: Actor, action=None, agent_id: int | None = None,
    tier: str = "", summary: dict | None = None, linked_action_ids: Iterable[Any] = (),
    origin_key: str = "", by=None, request_id: str = "",
) -> Escalation:  # fmt: skip
    """Open a case, joining the caller's transaction (the case commits with its cause).

    An action that already has an unresolved case keeps it, and so does a recurring cause with an
    `origin_key` (a breaker's trip: later held actions are linked to its one case): the new cause
    is recorded on the existing case (its audit event), so nothing is opened twice or lost."""
    linked = list(linked_action_ids)
    with transaction.atomic():
        existing = _unresolved_case(action=action, origin_key=origin_key)
        if existing is not None:
            if linked:
                existing.linked_actions.add(*linked)
            audit_record(
                actor=actor, verb=Verb.ESCALATION_OPENED, object_type="escalation",
                object_id=existing.pk,
                data={"again": True, "source": str(source), "reason": reason,
                      "linked_actions": [str(pk) for pk in linked]},
                request_id=request_id,
            )  # fmt: skip
            live.push_case_on_commit(existing)
            return existing
        now = clock.now()
        case = Escalation(
            action=action,
            agent_id=agent_id if agent_id is not None else getattr(action, "agent_id", None),
            source=source,
            reason=(reason or Source(source).label)[:500],
            summary=summary_of(action, summary),
            origin_key=origin_key,
            created_at=now,
            updated_at=now,
        )
        enter_tier(case, tier_for(tier), at=now)
        case.save(force_insert=True)
        if linked:
            case.linked_actions.set(linked)
        audit_record(
            actor=actor,
            verb=Verb.ESCALATION_OPENED,
            object_type="escalation",
            object_id=case.pk,
            data={
                "source": str(source),
                "tier": case.tier.key,
                "action_id": str(action.pk) if action is not None else None,
                "linked_actions": [str(pk) for pk in linked],
                "reason": case.reason,
                "by": getattr(by, "pk", None),
            },
            request_id=request_id,
        )
        live.push_case_on_commit(case)
        tell(case, Event.CASE_OPENED, subject=f"New escalation in {case.tier.name}")
    return case


def _unresolved_case(*, action, origin_key: str) -> Escalation | None:
    if action is None and not origin_key:
        return None
    cases = Escalation.objects.select_for_update().select_related("tier")
    if action is not None:
        cases = cases.filter(action=action)
    else:
        cases = cases.filter(origin_key=origin_key)
    return cases.exclude(status=CaseStatus.RESOLVED).order_by("id").first()


class Desk:
    """The escalation desk approvals opens cases through (see `approvals.handoff`)."""

    def open_case(self, **kwargs) -> Escalation:
        return case_open(**kwargs)

    def case_of_action(self, *, action_id: Any) -> dict[str, Any] | None:
        return selectors.case_of_action(action_id=action_id)

    def open_count(self, *, person) -> int:
        return selectors.open_count(person=person)

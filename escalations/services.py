"""Opening escalation cases."""

from __future__ import annotations

from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from escalations.models import Escalation


def escalation_open(
    *,
    agent_id: int,
    source: str,
    reason: str,
    actor: Actor,
    action_id=None,
    tier: str = "",
    summary: str = "",
) -> Escalation:
    """Open a case; joins the caller's transaction so the case and its cause commit together."""
    with transaction.atomic():
        case = Escalation.objects.create(
            action_id=action_id,
            agent_id=agent_id,
            source=source,
            tier=tier,
            reason=reason[:500],
            summary=summary,
        )
        audit_record(
            actor=actor,
            verb=Verb.ESCALATION_OPENED,
            object_type="escalation",
            object_id=case.pk,
            data={
                "action_id": str(action_id) if action_id else None,
                "tier": tier,
                "reason": reason,
            },
        )
    return case

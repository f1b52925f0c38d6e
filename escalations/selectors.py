"""Reading escalation cases."""

from __future__ import annotations

from typing import Any

from escalations.models import Escalation


def escalation_latest_for_action(*, action_id: Any) -> dict[str, Any] | None:
    """The newest case opened for an action, as an agent is told of it: `{id, tier, status}`."""
    return (
        Escalation.objects.filter(action_id=action_id)
        .order_by("-created_at", "-id")
        .values("id", "tier", "status")
        .first()
    )

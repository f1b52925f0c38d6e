"""Turning actions into what the dashboard shows (shared by HTTP views and the websocket)."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from approvals import selectors
from approvals.models import Status
from config.errors import NotFound

DASHBOARD_ROLES = ("supervisor", "senior_supervisor")


def may_use_dashboard(user) -> bool:
    return bool(
        user.is_authenticated
        and (user.is_superuser or user.groups.filter(name__in=DASHBOARD_ROLES).exists())
    )


def row_context(action, user) -> dict[str, Any]:
    return {"action": action, "user": user, "is_pending": action.status == Status.PENDING}


def action_row_html(*, action_id: str, user) -> str:
    try:
        action = selectors.action_get(action_id=action_id)
    except NotFound:
        return ""
    return render_to_string("approvals/queue.html#action-row", row_context(action, user))

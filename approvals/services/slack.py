"""A click in Slack, decided as the person the Slack user is linked to.

The click becomes the same service call the dashboard makes (`action_approve`, `action_reject`),
so every role, queue, claim, four-eyes, confirmation and reason-code rule applies; a refusal
changes nothing and is told back to the person. The click names the version its message showed:
an action whose params were edited since is refused as stale (nobody in Slack saw the new
params), while other changes (someone else's approval, a claim that ended) let the click decide
the action as it stands now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approvals import selectors
from approvals.models import Status
from approvals.services.decisions import action_approve, action_reject
from config.errors import ApplicationError
from notifications import selectors as notification_selectors

NOT_LINKED = (
    "Your Slack account is not linked to a Countersign person, so nothing changed: ask an "
    "admin to link it."
)


@dataclass(frozen=True)
class SlackOutcome:
    decided: bool
    text: str  # what the person who clicked is told (an ephemeral message)


def _expected_version(action_id: Any, clicked_version: int | None) -> int:
    if clicked_version is None:
        return -1  # no version: refused as stale, once the service checked who may see it
    current = selectors.action_version_unedited(action_id=action_id, since_version=clicked_version)
    return clicked_version if current is None else current


def action_decide_from_slack(
    *, team_id: str, slack_user_id: str, kind: str, action_id: Any, action_version: int | None,
    reason_code: str = "", request_id: str = "",
) -> SlackOutcome:  # fmt: skip
    """Approve or reject (`kind`) an action as the person linked to the Slack user."""
    person = notification_selectors.person_of_slack_user(
        team_id=team_id, slack_user_id=slack_user_id
    )
    if person is None:
        return SlackOutcome(decided=False, text=NOT_LINKED)
    try:
        expected = _expected_version(action_id, action_version)
        if kind == "approve":
            action = action_approve(
                action_id=action_id, by=person, expected_version=expected, request_id=request_id
            )
        elif kind == "reject":
            action = action_reject(
                action_id=action_id, by=person, reason_code=reason_code or None,
                expected_version=expected, request_id=request_id,
            )  # fmt: skip
        else:
            return SlackOutcome(decided=False, text="Nothing changed: unknown decision.")
    except ApplicationError as exc:
        return SlackOutcome(decided=False, text=f"Nothing changed: {exc.message}")
    name = action.action_type.name
    if action.status == Status.APPROVED:
        text = f"You approved {name}; it will execute now."
    elif action.status == Status.REJECTED:
        text = f"You rejected {name} ({reason_code})."
    else:
        text = f"Your approval of {name} is recorded; it needs another approver."
    return SlackOutcome(decided=True, text=text)

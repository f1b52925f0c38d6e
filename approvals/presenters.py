"""Turning actions into what the dashboard shows (shared by HTTP views and the websocket push).

The same row partial, `approvals/queue.html#action-row`, renders an action for the page, for the
answer to an approve/reject post and for a websocket push, so the three can never drift apart.
Everything agent-provided stays plain text here; the template escapes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch
from django.db.models.query import prefetch_related_objects
from django.template.loader import render_to_string

from agents.selectors import breaker_open_trips
from approvals import selectors
from approvals.models import Action, Decision, DecisionKind, Queue, ReasonCode, Status
from config.errors import NotFound
from policies.money import format_money
from sandbox.selectors import orders_by_id

DASHBOARD_ROLES = frozenset({"supervisor", "senior_supervisor"})
ROW_TEMPLATE = "approvals/queue.html#action-row"
LISTS_TEMPLATE = "approvals/queue.html#queue-lists"
BANNER_TEMPLATE = "approvals/queue.html#breaker-banner"

_DECISION_VERBS = {
    DecisionKind.APPROVE: "approved",
    DecisionKind.REJECT: "rejected",
    DecisionKind.EDIT: "edited",
    DecisionKind.ESCALATE: "escalated",
    DecisionKind.ROLLBACK: "rolled back",
    DecisionKind.ADOPT: "adopted",
    DecisionKind.DISMISS: "dismissed",
}


@dataclass(frozen=True)
class Viewer:
    """Who is looking, read once per request or websocket connection."""

    user_id: int | None
    is_superuser: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    # Names of the queues this person works; None for every queue (superusers).
    queues: frozenset[str] | None = field(default_factory=frozenset)

    @property
    def may_use_dashboard(self) -> bool:
        return self.user_id is not None and (
            self.is_superuser or bool(self.roles & DASHBOARD_ROLES)
        )

    def may_decide(self, action: Action) -> bool:
        # Mirrors the role half of the service's check, only to choose what to show; the service
        # still decides (and refuses operators of the requesting agent).
        return self.is_superuser or action.approver_role in self.roles

    def may_see_queue(self, queue: str) -> bool:
        """`queue` as an action holds it: "" is the default queue."""
        return self.queues is None or (queue or Queue.DEFAULT_NAME) in self.queues


def viewer_for(user) -> Viewer:
    if user is None or not user.is_authenticated:
        return Viewer(user_id=None)
    roles = frozenset(user.groups.order_by("name").values_list("name", flat=True))
    return Viewer(
        user_id=user.pk,
        is_superuser=user.is_superuser,
        roles=roles,
        queues=selectors.user_queue_names(user=user),
    )


def may_use_dashboard(user) -> bool:
    return viewer_for(user).may_use_dashboard


@dataclass(frozen=True)
class ActionRow:
    """One action as a reviewer sees it: figures from validated params, agent text kept apart."""

    action: Action
    amount: str
    order_ref: str
    customer: Any  # sandbox Customer or None
    customer_ref: str
    agent_reason: str
    approvals: Sequence[Decision]
    outcome: str
    outcome_reason: str
    is_pending: bool
    can_decide: bool
    already_approved: bool
    # Recommendations and drafts: a person adopts or dismisses them, and edits drafts first.
    is_proposed: bool = False
    is_draft: bool = False
    can_adopt: bool = False
    params_json: str = ""

    @property
    def status_label(self) -> str:
        return self.action.get_status_display().lower()


def _decisions_prefetch() -> Prefetch:
    return Prefetch(
        "decisions",
        queryset=Decision.objects.select_related("by", "reason_code").order_by("created_at", "id"),
        to_attr="decision_list",
    )


def _amount(params: dict[str, Any], action: Action) -> str:
    amount, currency = params.get("amount"), params.get("currency")
    if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str):
        return format_money(amount, currency)
    return format_money(action.amount, action.currency) if action.amount is not None else ""


def _row(action: Action, viewer: Viewer, orders: dict[str, Any]) -> ActionRow:
    params = action.effective_params or {}
    decisions = getattr(action, "decision_list", [])
    approvals = [d for d in decisions if d.kind in (DecisionKind.APPROVE, DecisionKind.ADOPT)]
    last = decisions[-1] if decisions else None
    order_ref = action.order_ref or str(params.get("order_id", ""))
    order = orders.get(order_ref)
    reason = params.get("reason")
    is_pending = action.status == Status.PENDING
    is_proposed = action.status in selectors.PROPOSED_STATUSES
    outcome, outcome_reason = "", ""
    if last is not None:
        outcome = f"{_DECISION_VERBS.get(last.kind, last.kind)} by {last.by.get_username()}"
        outcome_reason = last.reason_code.label if last.reason_code else ""
    elif not (is_pending or is_proposed) and action.decided_at is not None:
        outcome = "decided by policy"
    return ActionRow(
        action=action,
        amount=_amount(params, action),
        order_ref=order_ref,
        customer=order.customer if order is not None else None,
        customer_ref=str(params.get("customer_id", "")),
        agent_reason=reason if isinstance(reason, str) else "",
        approvals=approvals,
        outcome=outcome,
        outcome_reason=outcome_reason,
        is_pending=is_pending,
        can_decide=is_pending and viewer.may_decide(action),
        already_approved=any(d.by_id == viewer.user_id for d in approvals),
        is_proposed=is_proposed,
        is_draft=action.status == Status.DRAFTED,
        can_adopt=is_proposed and viewer.may_decide(action),
        # What a person edits in a draft: the params that would execute, as JSON for the textarea.
        params_json=json.dumps(params, indent=2, sort_keys=True)
        if action.status == Status.DRAFTED
        else "",
    )


def action_rows(actions: Iterable[Action], viewer: Viewer) -> list[ActionRow]:
    """Rows for many actions in two queries, whatever their number: decisions and orders."""
    actions = list(actions)
    prefetch_related_objects(actions, _decisions_prefetch())
    refs = sorted({a.order_ref for a in actions if a.order_ref})
    orders = orders_by_id(order_ids=refs) if refs else {}
    return [_row(a, viewer, orders) for a in actions]


def _split_codes(codes: list[ReasonCode]) -> dict[str, list[ReasonCode]]:
    def usable(code: ReasonCode, kind: str) -> bool:
        return not code.kinds or kind in code.kinds

    return {
        "approve_codes": [c for c in codes if usable(c, DecisionKind.APPROVE)],
        "reject_codes": [c for c in codes if usable(c, DecisionKind.REJECT)],
        "adopt_codes": [c for c in codes if usable(c, DecisionKind.ADOPT)],
        "dismiss_codes": [c for c in codes if usable(c, DecisionKind.DISMISS)],
        "edit_codes": [c for c in codes if usable(c, DecisionKind.EDIT)],
    }


def queue_context(viewer: Viewer) -> dict[str, Any]:
    """Everything the queue page and the list partial show, in a fixed number of queries: only the
    actions of the viewer's queues."""
    awaiting = list(selectors.actions_awaiting_people(queues=viewer.queues))
    pending = [a for a in awaiting if a.status == Status.PENDING]
    proposed = [a for a in awaiting if a.status != Status.PENDING]
    recent = list(selectors.recent_actions(queues=viewer.queues))
    rows = action_rows(pending + proposed + recent, viewer)
    return {
        "pending": rows[: len(pending)],
        "proposed": rows[len(pending) : len(pending) + len(proposed)],
        "recent": rows[len(pending) + len(proposed) :],
        "viewer": viewer,
        "queue_counts": selectors.queue_pending_counts(queues=viewer.queues),
        "breaker_trips": breaker_open_trips(),
        **_split_codes(selectors.reason_codes()),
    }


def action_row_html(*, action_id: Any, viewer: Viewer) -> str:
    """The row partial for one action as `viewer` sees it; empty if the action is gone or lies
    outside the viewer's queues."""
    try:
        action = selectors.action_get(action_id=action_id)
    except NotFound:
        return ""
    if not viewer.may_see_queue(action.queue):
        return ""
    (row,) = action_rows([action], viewer)
    context = {"row": row, "viewer": viewer, **_split_codes(selectors.reason_codes())}
    return render_to_string(ROW_TEMPLATE, context)


def breaker_banner_html(*, viewer: Viewer) -> str:
    """The banner of tripped breakers (empty and hidden when none is), for pushes and resets."""
    context = {"breaker_trips": breaker_open_trips(), "viewer": viewer}
    return render_to_string(BANNER_TEMPLATE, context)

"""The action page: one action as its reviewer reads it, and its panel, built from selectors.

Figures a reviewer acts on (amount, order, customer) come from validated params and the sandbox,
never from what the agent wrote about them; the agent's own words (summary, rationale, reason) are
kept as plain text for the template to escape. Every builder here runs a fixed number of queries,
whatever the number of audit events, decisions or earlier actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.utils import timezone

from approvals import selectors
from approvals.executors import executor_for
from approvals.lineage import LineageEntry, lineage
from approvals.models import AWAITING_STATUSES, Action, Decision, DecisionKind, Role, Status
from approvals.param_rows import DiffRow, ParamRow, money, param_rows, params_diff
from approvals.params_form import EditStep
from approvals.presenters import Viewer
from approvals.services import rollback_deadline, rollback_refusal
from policies.money import format_money
from sandbox.selectors import customer_get, customer_order_ids, order_with_ledger

PAGE_TEMPLATE = "approvals/action.html"
PANEL_TEMPLATE = "approvals/action.html#action-panel"
BODY_TEMPLATE = "approvals/action.html#action-page"
EDIT_TEMPLATE = "approvals/action.html#edit-area"

EDITABLE_STATUSES = (Status.PENDING, Status.DRAFTED)
PREVIOUS_LIMIT = 20
_AGENT_TEXT_LIMIT = 5000


def _agent_text(value: Any) -> str:
    return value[:_AGENT_TEXT_LIMIT] if isinstance(value, str) else ""


def confidence_label(value: Any) -> str:
    """The agent's confidence as a percentage, only when it is a number in [0, 1] (a fraction) or
    (1, 100] (a percentage); anything else is not shown, since the agent's say-so is not data."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        return ""
    if 0 <= value <= 1:
        return f"{value * 100:.0f}%"
    if 1 < value <= 100:
        return f"{value:.0f}%"
    return ""


# ---------------------------------------------------------------------------------------------
# the claim, decisions and what the viewer may do: the panel a websocket push refreshes


class Permissions(NamedTuple):
    """What the viewer's roles let them do to the action, whatever its state."""

    may_decide: bool
    may_take_over: bool
    may_roll_back: bool


def _permissions(action: Action, viewer: Viewer) -> Permissions:
    # Mirrors the role half of the services' checks, only to choose what to show; the services
    # still decide.
    rollback_role = action.approver_role or Role.SUPERVISOR
    return Permissions(
        may_decide=viewer.may_decide(action),
        may_take_over=viewer.is_superuser or Role.SENIOR_SUPERVISOR in viewer.roles,
        may_roll_back=viewer.is_superuser or rollback_role in viewer.roles,
    )


@dataclass(frozen=True)
class ActionPanel:
    action: Action
    viewer: Viewer
    now: datetime
    decisions: Sequence[Decision]
    approvals: Sequence[Decision]
    claim_holder: str
    claim_until: datetime | None
    claimed_by_me: bool
    held_by_other: bool
    already_approved: bool
    may_decide: bool
    may_take_over: bool
    may_roll_back: bool = False
    approve_codes: Sequence[Any] = ()
    reject_codes: Sequence[Any] = ()
    adopt_codes: Sequence[Any] = ()
    dismiss_codes: Sequence[Any] = ()
    rollback_codes: Sequence[Any] = ()
    # Why a succeeded action cannot be rolled back (not compensable, window closed), or "".
    rollback_notice: str = ""
    # Nothing can undo it once executed: approving or adopting asks the person to confirm that.
    irreversible: bool = False
    rollback_deadline: datetime | None = None
    message: str = ""
    message_code: str = ""

    @property
    def is_awaiting(self) -> bool:
        return self.action.status in AWAITING_STATUSES

    @property
    def is_pending(self) -> bool:
        return self.action.status == Status.PENDING

    @property
    def is_proposed(self) -> bool:
        return self.action.status in selectors.PROPOSED_STATUSES

    @property
    def is_succeeded(self) -> bool:
        return self.action.status == Status.SUCCEEDED

    # What the viewer may do now: their permissions, the action's state and the claim.

    @property
    def hands_free(self) -> bool:
        """The viewer may act on it now: their role, and nobody else reviewing it."""
        return self.may_decide and not self.held_by_other

    @property
    def can_approve(self) -> bool:
        return self.is_pending and self.hands_free and not self.already_approved

    @property
    def can_adopt(self) -> bool:
        return self.is_proposed and self.hands_free

    @property
    def can_edit(self) -> bool:
        return self.action.status in EDITABLE_STATUSES and self.hands_free

    @property
    def can_roll_back(self) -> bool:
        return self.is_succeeded and self.may_roll_back and not self.rollback_notice

    @property
    def can_claim(self) -> bool:
        return self.is_awaiting and self.may_decide and not self.claim_holder

    @property
    def key(self) -> str:
        """Changes whenever what the panel shows changes; the page skips refetches that would
        re-render the same panel (one's own claim renewals), so a half-filled form survives."""
        until = self.claim_until.isoformat() if self.held_by_other and self.claim_until else ""
        return f"{self.action.version}:{self.action.status}:{self.claim_holder}:{until}"

    @property
    def status_label(self) -> str:
        return self.action.get_status_display().lower()


def action_panel(
    action: Action,
    viewer: Viewer,
    *,
    decisions: Sequence[Decision] | None = None,
    message: str = "",
    message_code: str = "",
) -> ActionPanel:
    """The header, claim and decision area of the page (three queries with `decisions` unread:
    decisions and reason codes; `action` comes with its claim holder joined)."""
    now = timezone.now()
    if decisions is None:
        decisions = selectors.action_decisions(action=action)
    approvals = [d for d in decisions if d.kind in (DecisionKind.APPROVE, DecisionKind.ADOPT)]
    holder_id = action.claim_holder_id(now)
    codes = selectors.reason_codes()

    def usable(kind: str) -> list[Any]:
        return [c for c in codes if not c.kinds or kind in c.kinds]

    rollback_notice, deadline = "", None
    if action.status == Status.SUCCEEDED:
        refusal = rollback_refusal(action, now=now)
        rollback_notice = refusal.message if refusal else ""
        deadline = rollback_deadline(action)

    return ActionPanel(
        action=action,
        viewer=viewer,
        now=now,
        decisions=decisions,
        approvals=approvals,
        claim_holder=action.claimed_by.get_username() if holder_id else "",
        claim_until=action.claim_expires_at if holder_id else None,
        claimed_by_me=holder_id is not None and holder_id == viewer.user_id,
        held_by_other=holder_id is not None and holder_id != viewer.user_id,
        already_approved=any(d.by_id == viewer.user_id for d in approvals),
        **_permissions(action, viewer)._asdict(),
        approve_codes=usable(DecisionKind.APPROVE),
        reject_codes=usable(DecisionKind.REJECT),
        adopt_codes=usable(DecisionKind.ADOPT),
        dismiss_codes=usable(DecisionKind.DISMISS),
        rollback_codes=usable(DecisionKind.ROLLBACK),
        rollback_notice=rollback_notice,
        rollback_deadline=deadline,
        irreversible=not executor_for(action.action_type.key).compensable,
        message=message,
        message_code=message_code,
    )


def should_claim_on_open(action: Action, viewer: Viewer) -> bool:
    """Opening the page claims an action that waits for a person and is free or already the
    viewer's, if the viewer may decide it: a claim by someone who cannot decide would only keep
    out the people who can."""
    holder = action.claim_holder_id(timezone.now())
    return (
        action.status in AWAITING_STATUSES
        and holder in (None, viewer.user_id)
        and _permissions(action, viewer).may_decide
    )


# ---------------------------------------------------------------------------------------------
# the whole page


@dataclass(frozen=True)
class LedgerRow:
    """A payment or refund of the order, its amount formatted."""

    amount: str
    at: datetime
    status: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PreviousAction:
    action: Action
    amount: str
    target: str


@dataclass(frozen=True)
class ActionPage:
    action: Action
    panel: ActionPanel
    amount: str
    order_ref: str
    customer_ref: str
    params: Sequence[ParamRow]
    original: Sequence[ParamRow]
    edited: bool
    edit_diff: Sequence[DiffRow]
    order: Any  # sandbox Order (customer, payments, refunds prefetched) or None
    customer: Any  # sandbox Customer or None
    order_total: str
    paid: str
    refunded: str
    payments: Sequence[LedgerRow]
    refunds: Sequence[LedgerRow]
    agent_reason: str
    summary: str
    rationale: str
    confidence: str
    previous: Sequence[PreviousAction]
    lineage: Sequence[LineageEntry]
    edit: EditStep | None = None


def _previous(action: Action, viewer: Viewer, customer, order_ids) -> list[PreviousAction]:
    if customer is None:
        return []
    actions = selectors.actions_for_customer(
        customer_external_id=customer.external_id,
        order_ids=order_ids,
        queues=viewer.queues,
        exclude_id=action.pk,
        limit=PREVIOUS_LIMIT,
    )
    rows = []
    for other in actions:
        params = other.effective_params or {}
        target = str(params.get("order_id") or params.get("customer_id") or "")
        rows.append(PreviousAction(other, money(params), target))
    return rows


def _ledger_total(rows: Sequence[Any], currency: str, *, paid_only: bool = False) -> str:
    total = sum(r.amount for r in rows if not paid_only or r.status == "paid")
    return format_money(total, currency)


def action_page(
    action: Action, viewer: Viewer, *, edit: EditStep | None = None, message: str = ""
) -> ActionPage:
    """Everything the page shows, in a fixed number of queries."""
    params = action.effective_params or {}
    order_ref = str(params.get("order_id") or "")
    customer_ref = str(params.get("customer_id") or "")
    order = order_with_ledger(order_id=order_ref) if order_ref else None
    if order is not None:
        customer = order.customer
    else:
        customer = customer_get(external_id=customer_ref) if customer_ref else None
    order_ids = customer_order_ids(customer=customer) if customer is not None else []
    payments = list(order.payments.all()) if order is not None else []
    refunds = list(order.refunds.all()) if order is not None else []
    context = action.context if isinstance(action.context, dict) else {}
    edited = action.final_params is not None
    return ActionPage(
        action=action,
        panel=action_panel(action, viewer, message=message),
        amount=money(params),
        order_ref=order_ref,
        customer_ref=customer_ref,
        params=param_rows(params),
        original=param_rows(action.params or {}),
        edited=edited,
        edit_diff=params_diff(action.params or {}, params) if edited else [],
        order=order,
        customer=customer,
        order_total=format_money(order.total_amount, order.currency) if order else "",
        paid=_ledger_total(payments, order.currency, paid_only=True) if order else "",
        refunded=(
            _ledger_total([r for r in refunds if r.reversed_at is None], order.currency)
            if order
            else ""
        ),
        payments=[
            LedgerRow(format_money(p.amount, p.currency), p.created_at, p.get_status_display())
            for p in payments
        ],
        refunds=[
            LedgerRow(
                format_money(r.amount, r.currency),
                r.created_at,
                reason=f"reversed · {r.reason}" if r.reversed_at else r.reason,
            )
            for r in refunds
        ],
        agent_reason=_agent_text((action.params or {}).get("reason")),
        summary=_agent_text(context.get("summary")),
        rationale=_agent_text(context.get("rationale")),
        confidence=confidence_label(context.get("confidence")),
        previous=_previous(action, viewer, customer, order_ids),
        lineage=lineage(action),
        edit=edit,
    )

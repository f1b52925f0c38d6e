"""The action page: one action as its reviewer reads it, and its panel, built from selectors.

Figures a reviewer acts on (amount, order, customer) come from validated params and the sandbox,
never from what the agent wrote about them; the agent's own words (summary, rationale, reason) are
kept as plain text for the template to escape. Every builder here runs a fixed number of queries,
whatever the number of audit events, decisions or earlier actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approvals import rulebook, selectors
from approvals.lineage import LineageEntry, lineage
from approvals.models import AWAITING_STATUSES, Action, Decision, DecisionKind, Status
from approvals.param_rows import DiffRow, ParamRow, param_rows, params_diff
from approvals.params_form import EditStep
from approvals.presenters import Viewer
from config import clock
from config.errors import Code
from policies.money import format_money, params_money_text
from sandbox.selectors import customer_get, customer_order_ids, order_with_ledger

PAGE_TEMPLATE = "approvals/action.html"
PANEL_TEMPLATE = "approvals/action.html#action-panel"
BODY_TEMPLATE = "approvals/action.html#action-page"
EDIT_TEMPLATE = "approvals/action.html#edit-area"

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
    # The rulebook's answers for this viewer, this action, now.
    may_decide: bool  # false only when they lack the role the action asks for
    may_take_over: bool
    can_approve: bool = False
    can_adopt: bool = False
    can_edit: bool = False
    can_roll_back: bool = False
    can_claim: bool = False
    can_escalate: bool = False
    approve_codes: Sequence[Any] = ()
    reject_codes: Sequence[Any] = ()
    adopt_codes: Sequence[Any] = ()
    dismiss_codes: Sequence[Any] = ()
    rollback_codes: Sequence[Any] = ()
    escalate_codes: Sequence[Any] = ()
    # The tiers an escalation may name (read only when the viewer may escalate).
    escalation_tiers: Sequence[Any] = ()
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
        return self.action.status in rulebook.PROPOSED

    @property
    def is_succeeded(self) -> bool:
        return self.action.status == Status.SUCCEEDED

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
    decisions and reason codes; `action` comes with its claim holder joined), and the tiers when
    the viewer may escalate it."""
    now = clock.now()
    if decisions is None:
        decisions = selectors.action_decisions(action=action)
    approvals = [d for d in decisions if d.kind in rulebook.APPROVAL_KINDS]
    facts = rulebook.facts_of(action, history=decisions, now=now)
    codes = selectors.reason_codes()

    def usable(kind: str) -> list[Any]:
        return [c for c in codes if c.fits(kind)]

    rollback = rulebook.rollback_refusal(facts)
    succeeded = action.status == Status.SUCCEEDED
    holder_id = facts.claim_holder_id
    can_escalate = bool(rulebook.may_escalate(viewer, facts))
    return ActionPanel(
        action=action,
        viewer=viewer,
        now=now,
        decisions=decisions,
        approvals=approvals,
        claim_holder=facts.claim_holder_name,
        claim_until=facts.claim_expires_at,
        claimed_by_me=holder_id is not None and holder_id == viewer.user_id,
        held_by_other=holder_id is not None and holder_id != viewer.user_id,
        already_approved=viewer.user_id in facts.approver_ids,
        may_decide=rulebook.may_decide(viewer, facts).code != Code.MISSING_ROLE,
        may_take_over=bool(rulebook.may_take_over(viewer)),
        can_approve=bool(rulebook.may_approve(viewer, facts)),
        can_adopt=bool(rulebook.may_adopt(viewer, facts)),
        can_edit=bool(rulebook.may_edit(viewer, facts)),
        can_roll_back=bool(rulebook.may_roll_back(viewer, facts)),
        can_claim=holder_id is None and bool(rulebook.may_claim(viewer, facts)),
        can_escalate=can_escalate,
        approve_codes=usable(DecisionKind.APPROVE),
        reject_codes=usable(DecisionKind.REJECT),
        adopt_codes=usable(DecisionKind.ADOPT),
        dismiss_codes=usable(DecisionKind.DISMISS),
        rollback_codes=usable(DecisionKind.ROLLBACK),
        escalate_codes=usable(DecisionKind.ESCALATE),
        escalation_tiers=selectors.escalation_tiers() if can_escalate else (),
        rollback_notice=rollback.error.message if succeeded and not rollback else "",
        rollback_deadline=facts.rollback_deadline if succeeded else None,
        irreversible=bool(facts.not_compensable),
        message=message,
        message_code=message_code,
    )


def should_claim_on_open(action: Action, viewer: Viewer) -> bool:
    """Opening the page claims an action that waits for a person and is free or already the
    viewer's, if the viewer may decide it: a claim by someone who cannot decide would only keep
    out the people who can."""
    facts = rulebook.facts_of(action)
    return facts.claim_holder_id in (None, viewer.user_id) and bool(
        rulebook.may_claim(viewer, facts)
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
class ActionFacts:
    """What the page's panels show of an action: what would execute, the customer and order from
    the system of record, what the agent said, and earlier actions. The escalation case page
    shows the same panels (`approvals/action.html#action-facts`)."""

    action: Action
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


@dataclass(frozen=True)
class ActionPage(ActionFacts):
    panel: ActionPanel | None = None
    lineage: Sequence[LineageEntry] = ()
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
        rows.append(PreviousAction(other, params_money_text(params), target))
    return rows


def _ledger_total(rows: Sequence[Any], currency: str, *, paid_only: bool = False) -> str:
    total = sum(r.amount for r in rows if not paid_only or r.status == "paid")
    return format_money(total, currency)


def action_facts(action: Action, viewer: Viewer) -> ActionFacts:
    """The panels' facts, in a fixed number of queries (the sandbox's order, ledger and customer,
    and the earlier actions of the viewer's queues)."""
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
    return ActionFacts(
        action=action,
        amount=params_money_text(params),
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
    )


def action_page(
    action: Action, viewer: Viewer, *, edit: EditStep | None = None, message: str = ""
) -> ActionPage:
    """Everything the page shows, in a fixed number of queries."""
    facts = action_facts(action, viewer)
    return ActionPage(
        **{field.name: getattr(facts, field.name) for field in dataclasses.fields(facts)},
        panel=action_panel(action, viewer, message=message),
        lineage=lineage(action),
        edit=edit,
    )

"""Turning actions into what the dashboard shows (shared by HTTP views and the websocket push).

The same row partial, `approvals/queue.html#action-row`, renders an action for the page, for the
answer to an approve/reject post and for a websocket push, so the three can never drift apart.
Everything agent-provided stays plain text here; the template escapes it.

The row is the same for every viewer, so one render serves every dashboard: what differs per
person (you approved already, you lack the role, you hold the claim) travels as data attributes
that the page's script compares with the viewer's own, set on `<body>`. Hiding a button is only
cosmetic; the services decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Prefetch
from django.db.models.query import prefetch_related_objects
from django.template.loader import render_to_string

from agents.selectors import breaker_open_trips
from approvals import handoff, rulebook, selectors
from approvals.models import (
    AWAITING_STATUSES,
    Action,
    Decision,
    DecisionKind,
    Queue,
    ReasonCode,
    Status,
)
from config import clock
from config.errors import InvalidInput, NotFound
from execution import executor_for
from policies.money import format_money, params_money_text
from sandbox.selectors import orders_by_id

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


# Who is looking, read once per request or websocket connection: the rulebook's person.
Viewer = rulebook.Person
viewer_for = rulebook.person_of


@dataclass(frozen=True)
class ActionRow:
    """One action as every reviewer sees it: figures from validated params, agent text kept apart.

    Nothing here depends on who looks; see the module docstring.
    """

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
    # Recommendations and drafts: a person adopts or dismisses them, and edits drafts first.
    is_proposed: bool = False
    is_draft: bool = False
    params_json: str = ""
    is_awaiting: bool = False
    # Space-separated ids of the people who approved, for "you approved" on the viewer's side.
    approver_ids: str = ""
    claim_holder_id: int | None = None
    claim_holder_name: str = ""
    claim_expires_at: Any = None
    sla_text: str = ""
    is_overdue: bool = False
    # Nothing can undo it once executed: approving or adopting asks the person to confirm that.
    irreversible: bool = False
    # Pending, one approval, not edited, small: may be decided with others in one batch.
    batchable: bool = False
    # Microseconds of `updated_at`: claims change it and not the version, so the client orders
    # two renders of one version by it.
    updated_key: int = 0

    @property
    def status_label(self) -> str:
        return self.action.get_status_display().lower()

    @property
    def queue_name(self) -> str:
        return self.action.queue or Queue.DEFAULT_NAME


def _decisions_prefetch() -> Prefetch:
    return Prefetch(
        "decisions",
        queryset=Decision.objects.select_related("by", "reason_code").order_by("created_at", "id"),
        to_attr="decision_list",
    )


def _amount(params: dict[str, Any], action: Action) -> str:
    shown = params_money_text(params)
    if shown:
        return shown
    return format_money(action.amount, action.currency) if action.amount is not None else ""


def sla_text(due_at, now) -> tuple[str, bool]:
    """("due in 12 min" | "overdue by 3 min", overdue?) as the page first shows it; the script
    keeps it current."""
    seconds = int((due_at - now).total_seconds())
    minutes = max(1, round(abs(seconds) / 60))
    span = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
    return (f"due in {span}", False) if seconds >= 0 else (f"overdue by {span}", True)


def batch_max_amount() -> int:
    return settings.COUNTERSIGN.get("BATCH_MAX_AMOUNT", 50000)


def _row(action: Action, orders: dict[str, Any], now) -> ActionRow:
    params = action.effective_params or {}
    decisions = getattr(action, "decision_list", [])
    approvals = [d for d in decisions if d.kind in rulebook.APPROVAL_KINDS]
    last = decisions[-1] if decisions else None
    order_ref = action.order_ref or str(params.get("order_id", ""))
    order = orders.get(order_ref)
    reason = params.get("reason")
    is_pending = action.status == Status.PENDING
    is_proposed = action.status in rulebook.PROPOSED
    outcome, outcome_reason = "", ""
    if last is not None:
        outcome = f"{_DECISION_VERBS.get(last.kind, last.kind)} by {last.by.get_username()}"
        outcome_reason = last.reason_code.label if last.reason_code else ""
    elif not (is_pending or is_proposed) and action.decided_at is not None:
        outcome = "decided by policy"
    is_awaiting = action.status in AWAITING_STATUSES
    holder = action.claim_holder_id(now) if is_awaiting else None
    due_text, overdue = (
        sla_text(action.sla_due_at, now) if is_awaiting and action.sla_due_at else ("", False)
    )
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
        is_proposed=is_proposed,
        is_draft=action.status == Status.DRAFTED,
        # What a person edits in a draft: the params that would execute, as JSON for the textarea.
        params_json=json.dumps(params, indent=2, sort_keys=True)
        if action.status == Status.DRAFTED
        else "",
        is_awaiting=is_awaiting,
        approver_ids=" ".join(str(d.by_id) for d in approvals),
        claim_holder_id=holder,
        claim_holder_name=action.claimed_by.get_username() if holder is not None else "",
        claim_expires_at=action.claim_expires_at if holder is not None else None,
        sla_text=due_text,
        is_overdue=overdue,
        batchable=selectors.action_is_batchable(action),
        irreversible=not executor_for(action.action_type.key).compensable,
        updated_key=int(action.updated_at.timestamp() * 1_000_000) if action.updated_at else 0,
    )


def action_rows(actions: Iterable[Action]) -> list[ActionRow]:
    """Rows for many actions in two queries, whatever their number: decisions and orders (claim
    holders come with the actions, by `select_related`)."""
    actions = list(actions)
    prefetch_related_objects(actions, _decisions_prefetch())
    refs = sorted({a.order_ref for a in actions if a.order_ref})
    orders = orders_by_id(order_ids=refs) if refs else {}
    now = clock.now()
    return [_row(a, orders, now) for a in actions]


def _split_codes(codes: list[ReasonCode]) -> dict[str, list[ReasonCode]]:
    return {
        "approve_codes": [c for c in codes if c.fits(DecisionKind.APPROVE)],
        "reject_codes": [c for c in codes if c.fits(DecisionKind.REJECT)],
        "adopt_codes": [c for c in codes if c.fits(DecisionKind.ADOPT)],
        "dismiss_codes": [c for c in codes if c.fits(DecisionKind.DISMISS)],
        "edit_codes": [c for c in codes if c.fits(DecisionKind.EDIT)],
        "escalate_codes": [c for c in codes if c.fits(DecisionKind.ESCALATE)],
    }


def escalations_nav(viewer: Viewer, tiers: Sequence[Any]) -> dict[str, int] | None:
    """The way from the queue to the escalation workspace: how many cases the viewer may see are
    open, or None when the rulebook keeps them out of the workspace (`tiers`: every tier)."""
    if not rulebook.may_use_escalations(viewer, [rulebook.TierFacts.of(t) for t in tiers]):
        return None
    return {"open": handoff.desk().open_count(person=viewer)}


# ---------------------------------------------------------------------------------------------
# the queue page's filters: from the query string, checked, as a frozen `QueueFilters`

_FILTER_KEYS = ("sort", "queue", "type", "agent", "status", "min", "max", "q")


@dataclass(frozen=True)
class QueueQuery:
    filters: selectors.QueueFilters
    cursor: str
    # The query string values as typed, to fill the form again, and what was wrong with them.
    values: Mapping[str, str]
    errors: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        """Anything but the sort order set: the page shows a subset, so live arrivals that may not
        match are not inserted (updates of rows shown still are)."""
        return any(self.values.get(k) for k in _FILTER_KEYS if k != "sort")

    def url_query(self, **extra: str) -> str:
        pairs = [(k, self.values[k]) for k in _FILTER_KEYS if self.values.get(k)]
        pairs += [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)


# Above any real amount, below the bigint column's limit once in minor units.
_MAX_FILTER_AMOUNT = Decimal(10) ** 15


def _minor_units(raw: str, label: str, errors: list[str]) -> int | None:
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or not 0 <= value < _MAX_FILTER_AMOUNT
        or value.as_tuple().exponent < -2
    ):
        errors.append(f"The {label} amount must be a number like 12.50 (got {raw[:20]!r}).")
        return None
    # Two decimals: the listing column is in minor units, and most currencies have cents.
    return int(value * 100)


def queue_query(params: Mapping[str, str], viewer: Viewer, choices: dict) -> QueueQuery:
    """The filters of the query string, each checked; a bad value is left out and said why, so
    the page still answers (the cursor is checked by the selector: a bad one is a 400)."""
    values = {k: str(params.get(k, "")).strip()[:100] for k in _FILTER_KEYS}
    errors: list[str] = []
    sort = values["sort"] or selectors.SORT_SLA
    if sort not in selectors.SORTS:
        errors.append(f"Unknown sort order {values['sort']!r}: use sla or priority.")
        sort, values["sort"] = selectors.SORT_SLA, ""
    queues = None
    if values["queue"]:
        if rulebook.may_see_queue(viewer, values["queue"]):
            queues = frozenset({values["queue"]})
        else:
            errors.append(f"You do not work the queue {values['queue']!r}.")
            values["queue"] = ""
    for key, label, known in (
        ("type", "action type", choices["action_types"]),
        ("agent", "agent", choices["agents"]),
        ("status", "status", AWAITING_STATUSES),
    ):
        if values[key] and values[key] not in known:
            errors.append(f"Unknown {label} {values[key]!r}.")
            values[key] = ""
    low = _minor_units(values["min"], "minimum", errors)
    high = _minor_units(values["max"], "maximum", errors)
    if low is not None and high is not None and low > high:
        errors.append("The minimum amount is above the maximum.")
        low = high = None
    for key, value in (("min", low), ("max", high)):
        if value is None:
            values[key] = ""
    filters = selectors.QueueFilters(
        queues=queues,
        action_type=values["type"],
        agent=values["agent"],
        amount_min=low,
        amount_max=high,
        status=values["status"],
        search=values["q"][:64],
        sort=sort,
    )
    cursor = str(params.get("after", ""))[:1000]
    return QueueQuery(filters=filters, cursor=cursor, values=values, errors=tuple(errors))


def queue_context(viewer: Viewer, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the queue page and the list partial show, in a fixed number of queries: one
    page of the awaiting actions of the viewer's queues, as filtered, and the recent ones.

    A cursor that does not verify raises `InvalidInput` (the view answers 400).
    """
    choices = selectors.queue_filter_choices()
    query = queue_query(params or {}, viewer, choices)
    page = selectors.actions_awaiting_page(
        queues=viewer.queues, filters=query.filters, cursor=query.cursor
    )
    recent = list(selectors.recent_actions(queues=viewer.queues))
    rows = action_rows(page.actions + recent)
    counts = selectors.queue_pending_counts(queues=viewer.queues)
    codes = selectors.reason_codes()
    tiers = selectors.escalation_tiers()
    nav = escalations_nav(viewer, tiers)
    code_lists = {**_split_codes(codes), "batch_codes": codes, "escalation_tiers": tiers}
    return {
        "pending": rows[: len(page.actions)],
        "recent": rows[len(page.actions) :],
        "viewer": viewer,
        "grants": rulebook.dashboard_grants(viewer),
        "query": query,
        "filters": query.filters,
        "choices": choices,
        "viewer_queue_names": [c.name for c in counts],
        "next_query": query.url_query(after=page.next_cursor) if page.next_cursor else "",
        "live_insert": not query.cursor and not query.narrowed,
        "queue_counts": counts,
        "breaker_trips": breaker_open_trips(),
        "escalations": nav,
        # The top bar's link to the workspace: known here, so the page does not ask again.
        "escalations_nav": nav is not None,
        "batch_max_amount": format_money(batch_max_amount(), "USD"),
        **code_lists,
    }


def queue_error_context(viewer: Viewer, exc: InvalidInput) -> dict[str, Any]:
    """The first page, unfiltered, with what was wrong with the link (a bad cursor)."""
    context = queue_context(viewer, {})
    context["page_error"] = exc.message
    return context


# The reason menus of pushed rows come from a copy of the catalog at most this many seconds old
# (pages and the rows a decision answers with read it fresh). A pushed row is rendered for every
# change, up to 100 a second, and the catalog changes a few times a year.
PUSHED_ROW_CATALOG_MAX_AGE = 5.0
_catalog_copy: tuple[float, dict[str, list[Any]]] | None = None


def _code_lists(max_age: float) -> dict[str, list[Any]]:
    """The rows' menus: reason codes by kind, and the tiers an action may be escalated to."""
    global _catalog_copy
    now = time.monotonic()
    copy = _catalog_copy
    if copy is not None and now - copy[0] < max_age:
        return copy[1]
    lists = {
        **_split_codes(selectors.reason_codes()),
        "escalation_tiers": selectors.escalation_tiers(),
    }
    if max_age > 0:
        _catalog_copy = (now, lists)
    return lists


def action_row_render(*, action_id: Any, catalog_max_age: float = 0) -> tuple[str, str]:
    """(the row partial, the action's queue as it holds it) for every viewer alike; ("", "") if
    the action is gone. Callers check the viewer may see that queue before they hand it out.
    `catalog_max_age`: how old a copy of the reason-code catalog the menus may come from."""
    try:
        action = selectors.action_get(action_id=action_id, related=selectors.ROW_RELATIONS)
    except NotFound:
        return "", ""
    return _render_row(action, catalog_max_age), action.queue


def pushed_row_html(*, action: Action, created: bool) -> str:
    """The row a push carries, rendered once per change by the process that made it (every
    dashboard of every server process gets the same). A just-created action is rendered from
    the objects its service holds, with no decisions yet; any other is read again, committed."""
    if not created:
        return action_row_render(action_id=action.pk, catalog_max_age=PUSHED_ROW_CATALOG_MAX_AGE)[0]
    action.decision_list = []  # what `_decisions_prefetch` would find: skips its query
    return _render_row(action, PUSHED_ROW_CATALOG_MAX_AGE)


def _render_row(action: Action, catalog_max_age: float) -> str:
    (row,) = action_rows([action])
    return render_to_string(ROW_TEMPLATE, {"row": row, **_code_lists(catalog_max_age)})


def action_row_html(*, action_id: Any, viewer: Viewer) -> str:
    """The row partial for one action; empty if the action is gone or lies outside the viewer's
    queues."""
    html, queue = action_row_render(action_id=action_id)
    if not html or not rulebook.may_see_queue(viewer, queue):
        return ""
    return html


_BATCH_VERBS = {DecisionKind.APPROVE: "approved", DecisionKind.REJECT: "rejected"}


def batch_summary_html(outcomes: Sequence[Any], kind: str) -> str:
    """ "12 approved, 1 refused: …" with each refusal's code and words."""
    done = sum(1 for o in outcomes if o.ok)
    refused = [o for o in outcomes if not o.ok]
    summary = f"{done} {_BATCH_VERBS.get(kind, 'decided')}"
    if refused:
        summary += f", {len(refused)} refused:"
    context = {"summary": summary, "refused": refused}
    return render_to_string("approvals/queue.html#batch-summary", context)


def breaker_banner_html(*, viewer: Viewer) -> str:
    """The banner of tripped breakers (empty and hidden when none is), for pushes and resets."""
    context = {"breaker_trips": breaker_open_trips(), "viewer": viewer}
    return render_to_string(BANNER_TEMPLATE, context)

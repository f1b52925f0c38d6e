"""The action page: one action as its reviewer reads it, built from selectors, and its edit form.

Figures a reviewer acts on (amount, order, customer) come from validated params and the sandbox,
never from what the agent wrote about them; the agent's own words (summary, rationale, reason) are
kept as plain text for the template to escape. Every builder here runs a fixed number of queries,
whatever the number of audit events, decisions or earlier actions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from approvals import selectors
from approvals.models import AWAITING_STATUSES, Action, Decision, DecisionKind, Status
from approvals.presenters import Viewer
from approvals.services import rollback_deadline, rollback_refusal
from audit.selectors import audit_events_for
from config.errors import InvalidInput
from execution import executor_for
from people.roles import Role
from policies.models import Mode
from policies.money import format_money
from policies.validation import validate_params
from sandbox.selectors import customer_get, customer_order_ids, order_with_ledger

PAGE_TEMPLATE = "approvals/action.html"
PANEL_TEMPLATE = "approvals/action.html#action-panel"
BODY_TEMPLATE = "approvals/action.html#action-page"
EDIT_TEMPLATE = "approvals/action.html#edit-area"

EDITABLE_STATUSES = (Status.PENDING, Status.DRAFTED)
PREVIOUS_LIMIT = 20
_AGENT_TEXT_LIMIT = 5000
# What the policy may say about edited params that no edit can get past.
_REFUSING_MODES = frozenset({Mode.FORBIDDEN, Mode.READ_ONLY, Mode.ESCALATE})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _money(params: Mapping[str, Any]) -> str:
    amount, currency = params.get("amount"), params.get("currency")
    if _is_int(amount) and isinstance(currency, str):
        return format_money(amount, currency)
    return ""


def _shown(value: Any) -> str:
    """A param value as plain text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


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
# params, diffs


@dataclass(frozen=True)
class ParamRow:
    name: str
    value: str


@dataclass(frozen=True)
class DiffRow:
    name: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


_ABSENT = "—"


def _shown_param(name: str, params: Mapping[str, Any]) -> str:
    """A param as plain text; an amount in minor units also reads as money, so 12000 is not
    mistaken for twelve thousand dollars."""
    if name not in params:
        return _ABSENT
    if name == "amount" and _money(params):
        return f"{params[name]} ({_money(params)})"
    return _shown(params[name])


def param_rows(params: Mapping[str, Any]) -> list[ParamRow]:
    return [ParamRow(name, _shown_param(name, params)) for name in params]


def params_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[DiffRow]:
    """Every field of either side, in the order of `old` then the fields only `new` has."""
    names = list(old) + [name for name in new if name not in old]
    return [DiffRow(name, _shown_param(name, old), _shown_param(name, new)) for name in names]


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
    may_decide: bool
    already_approved: bool
    may_take_over: bool
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
    may_roll_back: bool = False
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
    def is_succeeded(self) -> bool:
        return self.action.status == Status.SUCCEEDED

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


def _may_take_over(viewer: Viewer) -> bool:
    return viewer.is_superuser or Role.SENIOR_SUPERVISOR in viewer.roles


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
    rollback_role = action.approver_role or Role.SUPERVISOR

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
        may_decide=viewer.holds(action.approver_role),
        already_approved=any(d.by_id == viewer.user_id for d in approvals),
        may_take_over=_may_take_over(viewer),
        approve_codes=usable(DecisionKind.APPROVE),
        reject_codes=usable(DecisionKind.REJECT),
        adopt_codes=usable(DecisionKind.ADOPT),
        dismiss_codes=usable(DecisionKind.DISMISS),
        rollback_codes=usable(DecisionKind.ROLLBACK),
        rollback_notice=rollback_notice,
        rollback_deadline=deadline,
        irreversible=not executor_for(action.action_type.key).compensable,
        may_roll_back=viewer.is_superuser or rollback_role in viewer.roles,
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
        and viewer.holds(action.approver_role)
    )


# ---------------------------------------------------------------------------------------------
# lineage: the audit log of the action in plain words

_VERBS = {
    "action.submitted": "submitted it",
    "action.approval_recorded": "recorded an approval",
    "action.approved": "approved it",
    "action.rejected": "rejected it",
    "action.cancelled": "withdrew it",
    "action.edited": "edited the params",
    "action.adopted": "adopted it",
    "action.dismissed": "dismissed it",
    "action.execution_started": "started executing it",
    "action.succeeded": "executed it successfully",
    "action.failed": "failed to execute it",
    "action.requeued": "enqueued it again for execution",
    "action.execution_recovered": "took over an attempt whose worker stopped answering",
    "action.execution_retried": "tried executing it again",
    "action.retry_scheduled": "scheduled another attempt after a transient failure",
    "action.execution_lease_lost": "discarded a late outcome of an attempt taken over",
    "action.needs_reconciliation": "could not tell whether the target applied it",
    "action.reconciled": "recorded what the target did",
    "action.escalated": "handed it to a person after the attempts ran out",
    "action.claimed": "claimed it for review",
    "action.claim_taken_over": "took over the review",
    "action.released": "released the review",
    "action.rollback_requested": "asked to roll it back",
    "action.rolled_back": "rolled it back",
    "action.rollback_failed": "failed to roll it back",
}
# Keys of an event's data shown on their own lines, not among the other details.
_OWN_LINES = frozenset({"reason_code", "note", "before", "after", "reason", "params", "decision"})


@dataclass(frozen=True)
class LineageEntry:
    seq: int
    at: datetime
    actor: str
    actor_kind: str
    verb: str
    words: str
    reason_code: str = ""
    note: str = ""
    changes: Sequence[DiffRow] = ()
    details: Sequence[tuple[str, str]] = ()


def _actor(event, users: Mapping[str, str], agents: Mapping[str, str]) -> str:
    if event.actor_kind == "user":
        return users.get(event.actor_id, f"user #{event.actor_id}")
    if event.actor_kind == "agent":
        return agents.get(event.actor_id, f"agent #{event.actor_id}")
    return f"system ({event.actor_id})" if event.actor_id else "system"


def _words(verb: str, data: Mapping[str, Any]) -> str:
    words = _VERBS.get(verb, verb)
    if verb == "action.submitted" and isinstance(data.get("decision"), dict):
        decision = data["decision"]
        words += f": the policy said {decision.get('mode', '?')} ({decision.get('rule_name', '')})"
    elif verb == "action.approval_recorded" and "approvals" in data:
        words += f" ({data.get('approvals')} of {data.get('required')})"
    elif verb == "action.claim_taken_over" and data.get("previous"):
        words += f" from {data['previous']}"
    elif verb == "action.released" and data.get("expired"):
        words = "let the review claim expire"
    return words


def _details(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, _shown(value)) for key, value in data.items() if key not in _OWN_LINES]


def lineage(action: Action) -> list[LineageEntry]:
    """Every audit event of the action in log order (three queries: events, users, agents)."""
    events = list(audit_events_for(object_type="action", object_id=str(action.pk)))
    users = selectors.usernames_by_id(
        user_ids=[e.actor_id for e in events if e.actor_kind == "user"]
    )
    agents = selectors.agent_names_by_id(
        agent_ids=[e.actor_id for e in events if e.actor_kind == "agent"]
    )
    entries = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        before, after = data.get("before"), data.get("after")
        changes = (
            params_diff(before, after)
            if isinstance(before, dict) and isinstance(after, dict)
            else []
        )
        note = data.get("note") or data.get("reason") or ""
        entries.append(
            LineageEntry(
                seq=event.seq,
                at=event.occurred_at,
                actor=_actor(event, users, agents),
                actor_kind=event.actor_kind,
                verb=event.verb,
                words=_words(event.verb, data),
                reason_code=str(data.get("reason_code") or ""),
                note=_shown(note),
                changes=[c for c in changes if c.changed],
                details=_details(data),
            )
        )
    return entries


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
        rows.append(PreviousAction(other, _money(params), target))
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
        amount=_money(params),
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


# ---------------------------------------------------------------------------------------------
# the edit form, generated from the action type's JSON schema

_SIMPLE = {"string", "integer", "number", "boolean"}
_PATH = re.compile(r"^params\[(['\"])(?P<name>.*?)\1\]")
_REQUIRED = re.compile(r"^'(?P<name>[^']+)' is a required property$")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    widget: str  # text, integer, number, checkbox, select, json
    value: str
    required: bool
    help: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    options: Sequence[tuple[str, str]] = ()
    checked: bool = False
    errors: Sequence[str] = ()

    @property
    def input_name(self) -> str:
        return f"param-{self.name}"

    @property
    def element_id(self) -> str:
        return f"edit-{self.name}"


def _widget(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "select"
    kind = spec.get("type")
    if isinstance(kind, str) and kind in _SIMPLE:
        return {"string": "text", "boolean": "checkbox"}.get(kind, kind)
    return "json"


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _is_money(name: str, spec: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    return spec.get("type") == "integer" and name == "amount" and "currency" in properties


def _field(
    name: str,
    spec: Mapping[str, Any],
    properties: Mapping[str, Any],
    *,
    required: bool,
    value: Any,
    present: bool,
    errors: Sequence[str],
    currency: str,
) -> FormField:
    spec = spec if isinstance(spec, Mapping) else {}
    widget = _widget(spec)
    label, help_text, attrs = _label(name), "", {}
    options: list[tuple[str, str]] = []
    shown = ""
    if widget == "select":
        options = [(json.dumps(v), _shown(v)) for v in spec.get("enum", [])]
        shown = json.dumps(value) if present else ""
    elif widget == "json":
        shown = json.dumps(value, indent=2, sort_keys=True) if present else ""
        help_text = "JSON"
    elif widget == "checkbox":
        shown = ""
    else:
        shown = _shown(value) if present and value is not None else ""
        if widget == "text":
            for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength")):
                if _is_int(spec.get(key)):
                    attrs[attr] = spec[key]
            if isinstance(spec.get("pattern"), str):
                attrs["pattern"] = spec["pattern"]
        else:
            attrs["step"] = "1" if widget == "integer" else "any"
            for key, attr in (("minimum", "min"), ("maximum", "max")):
                if isinstance(spec.get(key), int | float) and not isinstance(spec[key], bool):
                    attrs[attr] = spec[key]
    if _is_money(name, spec, properties):
        label = f"{label} (minor units)"
        unit = currency or "the currency's"
        help_text = f"In minor units of {unit}: 12000 is {format_money(12000, currency or None)}."
    if isinstance(spec.get("description"), str):
        help_text = f"{spec['description']} {help_text}".strip()
    return FormField(
        name=name,
        label=label,
        widget=widget,
        value=shown,
        required=required,
        help=help_text,
        attrs=attrs,
        options=options,
        checked=widget == "checkbox" and value is True,
        errors=list(errors),
    )


def edit_fields(
    schema: Mapping[str, Any],
    values: Mapping[str, Any],
    errors: Mapping[str, Sequence[str]] | None = None,
) -> list[FormField]:
    """One field per schema property, in the schema's order, prefilled from `values`."""
    errors = errors or {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    currency = values.get("currency") if isinstance(values.get("currency"), str) else ""
    return [
        _field(
            name,
            spec,
            properties,
            required=name in required,
            value=values.get(name),
            present=name in values,
            errors=errors.get(name, ()),
            currency=currency,
        )
        for name, spec in properties.items()
    ]


def params_from_form(
    schema: Mapping[str, Any], data: Mapping[str, str], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Typed params from the form's fields, and the per-field errors of fields that did not even
    parse; fields the schema does not describe keep their current values."""
    properties = schema.get("properties") or {}
    params = {k: v for k, v in current.items() if k not in properties}
    errors: dict[str, list[str]] = {}
    for name, spec in properties.items():
        widget = _widget(spec if isinstance(spec, Mapping) else {})
        raw = data.get(f"param-{name}")
        if widget == "checkbox":
            if f"param-{name}-shown" in data or raw is not None:
                params[name] = raw is not None
            continue
        if raw is None or raw.strip() == "":
            continue  # left empty: absent, and the schema says whether that is allowed
        try:
            if widget == "integer":
                params[name] = int(raw.strip())
            elif widget == "number":
                number = float(raw.strip())
                if not math.isfinite(number):
                    raise ValueError(raw)
                params[name] = int(number) if number.is_integer() else number
            elif widget in ("select", "json"):
                params[name] = json.loads(raw)
            else:
                params[name] = raw
        except ValueError:
            errors[name] = [
                {
                    "integer": "Enter a whole number.",
                    "number": "Enter a number.",
                    "select": "Choose one of the options.",
                }.get(widget, "Enter valid JSON.")
            ]
    return params, errors


def schema_errors(exc: InvalidInput, names: Sequence[str]) -> tuple[dict[str, list[str]], list]:
    """validate_params' errors by field name, and those of no single field."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for error in exc.details.get("errors", []):
        path, message = error.get("path", ""), error.get("message", "")
        match = _PATH.match(path) or _REQUIRED.match(message)
        name = match.group("name") if match else ""
        if name in names:
            by_field.setdefault(name, []).append(message)
        else:
            general.append(message)
    if not by_field and not general:
        general.append(exc.message)
    return by_field, general


@dataclass(frozen=True)
class PolicyOutlook:
    """What the active policy would say about the edited params, next to what it said before."""

    mode: str
    rule_name: str
    explanation: str
    approvals_required: int
    approver_role: str
    refused: bool
    needs_more: bool
    policy_version: int | None


@dataclass(frozen=True)
class EditStep:
    """The edit area: the form (with errors) or the confirm step (diff, outlook, reason)."""

    step: str  # "form", "confirm", or "refused" (the viewer may not edit it now)
    fields: Sequence[FormField] = ()
    errors: Sequence[str] = ()
    diff: Sequence[DiffRow] = ()
    outlook: PolicyOutlook | None = None
    params_json: str = ""
    edit_codes: Sequence[Any] = ()
    version: int = 0
    message: str = ""
    message_code: str = ""


def edit_form(
    action: Action,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    general: Sequence[str] = (),
    version: int | None = None,
) -> EditStep:
    schema = action.action_type.params_schema or {}
    return EditStep(
        step="form",
        fields=edit_fields(
            schema, values if values is not None else action.effective_params or {}, errors
        ),
        errors=list(general),
        version=version if version is not None else action.version,
    )


def policy_outlook(action: Action, params: Mapping[str, Any]) -> PolicyOutlook:
    _, decision = selectors.policy_decision(
        agent_name=action.agent.name,
        action_type=action.action_type.key,
        params=dict(params),
        context=action.context if isinstance(action.context, dict) else {},
    )
    refused = decision.mode in _REFUSING_MODES
    needs_more = not refused and (
        decision.approvals_required > action.approvals_required
        or bool(decision.approver_role and decision.approver_role != action.approver_role)
    )
    return PolicyOutlook(
        mode=decision.mode,
        rule_name=decision.rule_name,
        explanation=decision.explanation,
        approvals_required=decision.approvals_required,
        approver_role=decision.approver_role,
        refused=refused,
        needs_more=needs_more,
        policy_version=decision.policy_version,
    )


def edit_review(
    action: Action, data: Mapping[str, str], *, version: int | None = None
) -> tuple[EditStep, dict[str, Any] | None]:
    """Check a submitted edit form: the form again with per-field errors, or the confirm step
    (diff original → new and the policy outlook) with the params it would save."""
    schema = action.action_type.params_schema or {}
    current = action.effective_params or {}
    params, errors = params_from_form(schema, data, current)
    general: list[str] = []
    if not errors:
        try:
            validate_params(action_type_key=action.action_type.key, schema=schema, params=params)
        except InvalidInput as exc:
            errors, general = schema_errors(exc, list(schema.get("properties") or {}))
    if errors or general:
        values = dict(params)
        for name in errors:  # show what they typed, not a blank, next to its error
            values.pop(name, None)
        step = edit_form(action, values=values, errors=errors, general=general, version=version)
        fields = [f if f.name not in errors or f.value else _with_raw(f, data) for f in step.fields]
        return EditStep(step="form", fields=fields, errors=general, version=step.version), None
    return confirm_step(action, params, version=version), params


def _with_raw(f: FormField, data: Mapping[str, str]) -> FormField:
    return FormField(
        name=f.name,
        label=f.label,
        widget=f.widget,
        value=data.get(f.input_name, ""),
        required=f.required,
        help=f.help,
        attrs=f.attrs,
        options=f.options,
        checked=f.checked,
        errors=f.errors,
    )


def confirm_step(
    action: Action,
    params: Mapping[str, Any],
    *,
    version: int | None = None,
    message: str = "",
    message_code: str = "",
) -> EditStep:
    return EditStep(
        step="confirm",
        diff=params_diff(action.params or {}, params),
        outlook=policy_outlook(action, params),
        params_json=json.dumps(params, sort_keys=True),
        edit_codes=selectors.reason_codes(kind=DecisionKind.EDIT),
        version=version if version is not None else action.version,
        message=message,
        message_code=message_code,
    )

"""The case page: the hand-off, the action's panels, both clocks, the timeline and the forms.

The forms shown are the rulebook's answers for the viewer (`may_acknowledge_case`,
`may_reassign_case`, `may_resolve_case`); the services ask the same questions again. The action's
panels are the action page's own (`approvals.action_page.action_facts`, rendered by the
`approvals/action.html` partials), and the timeline interleaves the case's audit events with the
action's. What the agent wrote is kept as plain text for the template to escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approvals import rulebook
from approvals import selectors as action_selectors
from approvals.action_page import ActionFacts, action_facts
from approvals.lineage import LineageEntry, lineage_of
from approvals.models import DecisionKind, Status
from approvals.params_form import EditStep
from approvals.presenters import sla_text
from config import clock
from escalations import selectors
from escalations.models import CaseStatus, Escalation
from escalations.summary import FIELDS

PAGE_TEMPLATE = "escalations/case.html"
BODY_TEMPLATE = "escalations/case.html#case-page"
PANEL_TEMPLATE = "escalations/case.html#case-panel"
EDIT_TEMPLATE = "escalations/case.html#case-edit"


@dataclass(frozen=True)
class CasePanel:
    """The header, clocks and forms: what a push or a form's answer refreshes."""

    case: Escalation
    viewer: rulebook.Person
    now: datetime
    can_acknowledge: bool
    can_reassign: bool
    can_resolve: bool
    # The case's action still waits on it: it can be approved or rejected, not only returned.
    decides: bool
    approve_codes: Sequence[Any] = ()
    reject_codes: Sequence[Any] = ()
    tiers: Sequence[Any] = ()
    ack_text: str = ""
    resolve_text: str = ""
    message: str = ""
    message_code: str = ""

    @property
    def key(self) -> str:
        """Changes whenever what the panel shows changes: a page skips refetches that would
        re-render the same panel, so a half-typed note survives."""
        return f"{self.case.version}:{self.case.status}:{self.case.tier_id}"

    @property
    def is_open(self) -> bool:
        return self.case.status == CaseStatus.OPEN

    @property
    def is_resolved(self) -> bool:
        return self.case.status == CaseStatus.RESOLVED


def case_panel(
    case: Escalation, viewer: rulebook.Person, *, tiers: Sequence[Any], message: str = "",
    message_code: str = "",
) -> CasePanel:  # fmt: skip
    """The panel (one query: the reason codes, when the viewer may resolve the case)."""
    now = clock.now()
    facts = selectors.case_facts(case)
    can_resolve = bool(rulebook.may_resolve_case(viewer, facts))
    codes = action_selectors.reason_codes() if can_resolve else []
    action = case.action
    return CasePanel(
        case=case,
        viewer=viewer,
        now=now,
        can_acknowledge=bool(rulebook.may_acknowledge_case(viewer, facts)),
        can_reassign=bool(rulebook.may_reassign_case(viewer, facts)),
        can_resolve=can_resolve,
        decides=can_resolve and action is not None and action.status == Status.ESCALATED,
        approve_codes=[c for c in codes if c.fits(DecisionKind.APPROVE)],
        reject_codes=[c for c in codes if c.fits(DecisionKind.REJECT)],
        tiers=tiers,
        ack_text=sla_text(case.ack_due_at, now)[0] if case.status == CaseStatus.OPEN else "",
        resolve_text=""
        if case.status == CaseStatus.RESOLVED
        else sla_text(case.resolve_due_at, now)[0],
        message=message,
        message_code=message_code,
    )


@dataclass(frozen=True)
class Summary:
    """The hand-off as the handler reads it: every field text (agent text: escaped by the
    template), "" when not given."""

    customer_id: str = ""
    order_id: str = ""
    what_agent_did: str = ""
    what_agent_proposes: str = ""
    customer_words: str = ""
    sentiment: str = ""
    amount: str = ""
    rule: str = ""
    explanation: str = ""


def summary_of(case: Escalation) -> Summary:
    data = case.summary if isinstance(case.summary, dict) else {}
    keys = (*FIELDS, "amount", "rule", "explanation")
    return Summary(**{k: data[k] for k in keys if isinstance(data.get(k), str)})


@dataclass(frozen=True)
class CasePage:
    case: Escalation
    panel: CasePanel
    summary: Summary
    # The action's panels (what would execute, customer and order, what the agent said, why it is
    # here, earlier actions); None for a case without an action.
    facts: ActionFacts | None
    timeline: Sequence[LineageEntry]
    edit: EditStep | None = None


def case_action(case: Escalation):
    """The case's action with everything its panels read joined in, or None."""
    if case.action_id is None:
        return None
    return action_selectors.action_get_for_page(action_id=case.action_id)


def case_page(
    case: Escalation, viewer: rulebook.Person, *, tiers: Sequence[Any], message: str = "",
    message_code: str = "", edit: EditStep | None = None,
) -> CasePage:  # fmt: skip
    """Everything the page shows, in a fixed number of queries whatever the history."""
    action = case_action(case)
    objects = [("escalation", str(case.pk))]
    if action is not None:
        objects.append(("action", str(action.pk)))
    return CasePage(
        case=case,
        panel=case_panel(case, viewer, tiers=tiers, message=message, message_code=message_code),
        summary=summary_of(case),
        facts=action_facts(action, viewer) if action is not None else None,
        timeline=lineage_of(objects=objects),
        edit=edit,
    )

"""Turning cases into the workspace's rows (shared by the page, its forms' answers and pushes).

The row partial, `escalations/workspace.html#case-row`, renders a case for the list, for the
answer to an acknowledge posted from it and for a websocket push, so the three never drift apart.
What the agent wrote (the hand-off summary) stays plain text here; the template escapes it.

One thing in a row depends on who looks: whether they may acknowledge the case. The page renders
it for its viewer; a push carries both renders and the case's facts, and each socket hands its
person the render the rulebook's answer picks (`escalations.consumers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.template.loader import render_to_string

from approvals import rulebook
from approvals.presenters import sla_text
from config import clock
from config.errors import NotFound
from escalations import selectors
from escalations.models import CaseStatus, Escalation

PAGE_TEMPLATE = "escalations/workspace.html"
LISTS_TEMPLATE = "escalations/workspace.html#case-lists"
ROW_TEMPLATE = "escalations/workspace.html#case-row"
FLASH_TEMPLATE = "escalations/workspace.html#flash-message"

# The hand-off's one line, as the list shows it (the case page shows the whole summary).
LINE_LIMIT = 160
_STATUS_LABELS = {
    "": "Unresolved",
    CaseStatus.OPEN.value: "Open",
    CaseStatus.ACKNOWLEDGED.value: "Acknowledged",
    CaseStatus.RESOLVED.value: "Resolved",
    "all": "All",
}
_EPOCH_PAD = 10**15


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ms(at: datetime | None) -> int:
    return int(at.timestamp() * 1000) if at is not None else 0


def sort_key(case: Escalation) -> str:
    """The list's order as one comparable string, so a page places a pushed row where a reload
    would (`selectors.cases_listed`): unresolved first, breached first (longest breached first),
    then the nearest resolve due time; resolved ones latest first."""
    if case.status == CaseStatus.RESOLVED:
        return f"1|{_EPOCH_PAD - _ms(case.resolved_at):016d}|{case.pk:012d}"
    breached = f"0{_ms(case.breached_at):016d}" if case.breached_at else "1" + "0" * 16
    return f"0|{breached}|{_ms(case.resolve_due_at):016d}|{case.pk:012d}"


@dataclass(frozen=True)
class CaseRow:
    """One case as every viewer sees it, but for `may_acknowledge`."""

    case: Escalation
    line: str  # the agent's words: escaped by the template
    order_ref: str
    customer_ref: str
    amount: str
    may_acknowledge: bool
    sort_key: str
    ack_text: str = ""
    resolve_text: str = ""
    updated_key: int = 0

    @property
    def is_open(self) -> bool:
        return self.case.status == CaseStatus.OPEN

    @property
    def is_resolved(self) -> bool:
        return self.case.status == CaseStatus.RESOLVED


def case_row(case: Escalation, *, may_acknowledge: bool, now: datetime) -> CaseRow:
    summary = case.summary if isinstance(case.summary, dict) else {}
    line = _text(summary.get("what_agent_proposes")) or _text(summary.get("what_agent_did"))
    resolved = case.status == CaseStatus.RESOLVED
    return CaseRow(
        case=case,
        line=(line or case.reason)[:LINE_LIMIT],
        order_ref=_text(summary.get("order_id")),
        customer_ref=_text(summary.get("customer_id")),
        amount=_text(summary.get("amount")),
        may_acknowledge=may_acknowledge,
        sort_key=sort_key(case),
        ack_text=sla_text(case.ack_due_at, now)[0] if case.status == CaseStatus.OPEN else "",
        resolve_text="" if resolved else sla_text(case.resolve_due_at, now)[0],
        updated_key=int(case.updated_at.timestamp() * 1_000_000),
    )


def case_rows(cases: Iterable[Escalation], viewer: rulebook.Person) -> list[CaseRow]:
    """Rows for `viewer`, each with the rulebook's answer about acknowledging it (no query)."""
    now = clock.now()
    return [
        case_row(
            case,
            may_acknowledge=bool(rulebook.may_acknowledge_case(viewer, selectors.case_facts(case))),
            now=now,
        )
        for case in cases
    ]


def row_html(row: CaseRow) -> str:
    return render_to_string(ROW_TEMPLATE, {"row": row})


def case_row_html(*, case_id: Any, viewer: rulebook.Person) -> str:
    """One row as it stands, for `viewer`; "" when the case is gone or not theirs to see."""
    try:
        case = selectors.case_get(case_id=case_id)
    except NotFound:
        return ""
    if not rulebook.may_see_case(viewer, selectors.case_facts(case)):
        return ""
    return row_html(case_rows([case], viewer)[0])


def flash_html(message: str, code: str) -> str:
    return render_to_string(FLASH_TEMPLATE, {"message": message, "code": code})


# ---------------------------------------------------------------------------------------------
# the workspace page: its filters, list and counts


@dataclass(frozen=True)
class CaseQuery:
    status: str
    tier: str
    errors: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        return bool(self.status or self.tier)

    @property
    def url_query(self) -> str:
        return urlencode([(k, v) for k, v in (("status", self.status), ("tier", self.tier)) if v])

    @property
    def status_label(self) -> str:
        return _STATUS_LABELS[self.status]


def case_query(params: Mapping[str, str], access: selectors.Workspace) -> CaseQuery:
    """The filters of the query string, each checked; a bad one is left out and said why."""
    status = str(params.get("status", "")).strip()[:20]
    tier = str(params.get("tier", "")).strip()[:32]
    errors = []
    if status not in selectors.STATUS_FILTERS:
        errors.append(f"Unknown status {status!r}: use open, acknowledged, resolved or all.")
        status = ""
    if tier and tier not in {t.key for t in access.shown_tiers}:
        errors.append(f"You do not see the cases of a tier {tier!r}.")
        tier = ""
    return CaseQuery(status=status, tier=tier, errors=tuple(errors))


def workspace_context(
    viewer: rulebook.Person, access: selectors.Workspace, params: Mapping[str, str]
) -> dict[str, Any]:
    """Everything the workspace and its list partial show, in a fixed number of queries: the
    cases (one, whatever their number) and the counts per tier (one); the tiers come in
    `access`."""
    query = case_query(params, access)
    cases = selectors.cases_listed(
        person=viewer, handled=access.handled_keys, status=query.status, tier=query.tier
    )
    counts = selectors.open_counts_by_tier(person=viewer, handled=access.handled_keys)
    return {
        "viewer": viewer,
        "access": access,
        "query": query,
        "status_choices": list(_STATUS_LABELS.items()),
        "rows": case_rows(cases, viewer),
        "tier_counts": [(tier, counts.get(tier.key, 0)) for tier in access.shown_tiers],
        "escalations_nav": True,
    }


# ---------------------------------------------------------------------------------------------
# pushes: rendered once by the process that made the change


def facts_data(facts: rulebook.CaseFacts) -> dict[str, Any]:
    return dataclasses.asdict(facts)


def facts_from(data: Any) -> rulebook.CaseFacts | None:
    """The case facts a push carries, or None if they are not there or malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("tier"), dict):
        return None
    try:
        return rulebook.CaseFacts(**{**data, "tier": rulebook.TierFacts(**data["tier"])})
    except TypeError:
        return None


def pushed_case(*, case_id: Any) -> dict[str, Any]:
    """What a case push carries beyond the small event: the row rendered for someone who may
    acknowledge it (`html_ack`) and for someone who may not (`html`), the facts the rulebook
    needs to pick one per person, and the unresolved counts of the tiers the change touched."""
    case = selectors.case_get(case_id=case_id)
    now = clock.now()
    row = case_row(case, may_acknowledge=False, now=now)
    html = row_html(row)
    facts = selectors.case_facts(case)
    # Only an open case can be acknowledged: for any other, one render serves everybody.
    html_ack = row_html(dataclasses.replace(row, may_acknowledge=True)) if row.is_open else html
    return {"html": html, "html_ack": html_ack, "facts": facts_data(facts)}

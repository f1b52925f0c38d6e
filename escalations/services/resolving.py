"""Resolving a case, and settling its escalated action in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from approvals import rulebook
from approvals.models import Status
from approvals.services.escalated import (
    escalated_action_approve,
    escalated_action_close,
    escalated_action_reject,
)
from approvals.services.kernel import lock as action_lock
from audit.events import Verb
from audit.services import Actor
from config import clock
from config.errors import Code, Conflict, InvalidInput
from escalations.models import Escalation, Outcome
from escalations.selectors import parse_case_id
from escalations.services.kernel import lock_case_for, move_case, tell
from escalations.services.working import check_case_version
from escalations.transitions import Move
from notifications.events import Event

# The outcomes that decide the case's action, so it must still be escalated.
DECIDING = frozenset({Outcome.APPROVED, Outcome.REJECTED})


class OutcomeNotForCase(Conflict):
    default_code = Code.OUTCOME_NOT_FOR_CASE


def case_resolve(
    *, case_id: Any, by, outcome: str, reason_code: str | None = None, note: str = "",
    params: dict | None = None, expected_version: int | None = None, request_id: str = "",
) -> Escalation:  # fmt: skip
    """Close a case with its outcome:
    - `approved`: the escalated action executes on the handler's authority, edited first when
      `params` are given (see `escalated_action_approve`);
    - `rejected`: with a reason code of kind `reject`;
    - `returned`: back to the agent with guidance (`note`, required): the action ends rejected
      with `returned-to-agent`;
    - `resolved_outside`: handled in another system (`note`, required): the action ends cancelled.
    A case whose action is not escalated (an execution that failed and needs reconciliation, a
    rollback that failed, a breaker trip, a hand-off without an action) can only be returned or
    resolved outside: its action stays as it is, for the people who own that status.
    """
    if outcome not in Outcome.values:
        raise InvalidInput(
            f"{outcome!r} is not an outcome; one of {', '.join(Outcome.values)}.",
            code=Code.INVALID_OUTCOME,
            details={"outcome": outcome, "allowed": list(Outcome.values)},
        )
    note = (note or "").strip()
    if outcome in (Outcome.RETURNED, Outcome.RESOLVED_OUTSIDE) and not note:
        raise InvalidInput(
            "Say in the note what the agent should do, or where the case was handled.",
            code=Code.NOTE_REQUIRED,
        )
    with transaction.atomic(durable=True):
        # The action first, then the case: every path that touches both locks in this order.
        action_id = (
            Escalation.objects.filter(pk=parse_case_id(case_id))
            .values_list("action_id", flat=True)
            .first()
        )
        action = action_lock(action_id) if action_id else None
        case, _ = lock_case_for(case_id, by, rulebook.may_resolve_case)
        check_case_version(case, expected_version)
        settles = action is not None and action.status == Status.ESCALATED
        if outcome in DECIDING and not settles:
            raise OutcomeNotForCase(
                "Only a case whose action is escalated can be approved or rejected; return it "
                "or resolve it outside.",
                details={"action_status": action.status if action else None},
            )
        data: dict[str, Any] = {"outcome": outcome, "reason_code": reason_code, "note": note}
        if settles:
            data["action"] = _settle(action, by=by, outcome=outcome, reason_code=reason_code,
                                     note=note, params=params, request_id=request_id)  # fmt: skip
        case.outcome = outcome
        case.reason_code = reason_code or ""
        case.resolution_note = note
        case.resolved_by = by
        case.resolved_at = clock.now()
        case.warn_at = None
        case.renotify_at = None
        move_case(case, Move.RESOLVE, actor=Actor.user(by.pk), verb=Verb.ESCALATION_RESOLVED,
                  data=data, request_id=request_id)  # fmt: skip
        outcome_text = case.get_outcome_display()
        tell(case, Event.CASE_RESOLVED, subject=f"Escalation resolved: {outcome_text}")
    return case


def _settle(action, *, by, outcome, reason_code, note, params, request_id) -> dict:
    if outcome == Outcome.APPROVED:
        return escalated_action_approve(
            action=action, by=by, params=params, reason_code=reason_code, note=note,
            request_id=request_id,
        )  # fmt: skip
    if outcome == Outcome.RESOLVED_OUTSIDE:
        return escalated_action_close(action=action, by=by, note=note, request_id=request_id)
    return escalated_action_reject(
        action=action, by=by, reason_code=reason_code, note=note,
        returned=outcome == Outcome.RETURNED, request_id=request_id,
    )  # fmt: skip

"""Escalated actions: a person escalates a pending action, and a case's handler settles one.

`action_escalate` is a reviewer's use case (its own transaction). The other functions join the
caller's transaction: the escalations app resolves a case and settles its action in one, so the
case never says "approved" while its action still waits, nor the other way round. Who may settle
is the case's question (`rulebook.may_resolve_case`, asked by escalations); what may execute is
the policy's, asked again here about the params that would run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from approvals import handoff, rulebook
from approvals.models import Action, DecisionKind, Status
from approvals.selectors import policy_decision
from approvals.services.kernel import (
    RETURNED_CODE,
    approval_count,
    escalation_tier_of,
    execute_on_commit,
    lock_to_decide,
    move,
    params_on_record,
    reason_code_for,
    record_decision,
    set_listing_fields,
    system_reason_code,
)
from approvals.services.submission import SLA_WARN_SHARE
from approvals.transitions import check_transition
from audit.events import Verb
from audit.services import Actor
from config import clock
from config.errors import Code, Conflict, Forbidden, InvalidInput
from policies.models import Mode
from policies.validation import validate_params

# What the policy may say about params that not even an escalation handler can override.
HANDLER_REFUSED_MODES = frozenset({Mode.FORBIDDEN, Mode.READ_ONLY})


def action_escalate(
    *,
    action_id: Any,
    by,
    reason_code: str | None,
    note: str = "",
    tier: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A reviewer hands a pending action to an escalation tier (the rule's, or `tier`), with a
    reason code of kind `escalate`; a case opens with the hand-off summary."""
    with transaction.atomic(durable=True):
        action, _ = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_escalate
        )
        reason = reason_code_for(reason_code, kind=DecisionKind.ESCALATE, required=True)
        record_decision(action, by=by, kind=DecisionKind.ESCALATE, reason=reason, note=note)
        action.decided_at = clock.now()
        actor = Actor.user(by.pk)
        data = {"reason_code": reason_code, "note": note, "tier": tier}
        move(action, Status.ESCALATED, actor=actor, verb=Verb.ACTION_ESCALATED, data=data,
             request_id=request_id)  # fmt: skip
        handoff.desk().open_case(
            action=action,
            source=handoff.Source.PERSON,
            reason=f"{reason.label}" + (f": {note}" if note else ""),
            actor=actor,
            tier=tier or escalation_tier_of(action),
            by=by,
            request_id=request_id,
        )
    return action


def action_hand_over(*, action: Action, actor: Actor, data: dict, request_id: str = "") -> bool:
    """An agent hands its own pending action to a person (joins the caller's transaction; the
    caller opens the case). False, changing nothing, when the action no longer waits."""
    if action.status != Status.PENDING:
        return False
    action.decided_at = clock.now()
    move(action, Status.ESCALATED, actor=actor, verb=Verb.ACTION_ESCALATED, data=data,
         request_id=request_id)  # fmt: skip
    return True


def escalated_action_approve(
    *, action: Action, by, params: dict[str, Any] | None = None, reason_code: str | None = None,
    note: str = "", request_id: str = "",
) -> dict[str, Any]:  # fmt: skip
    """The handler approves the escalated `action` (locked by the caller), edited first when
    `params` differ (schema-checked, with a reason code of kind `edit`; the agent's params stay).

    The policy is asked again about the params that would execute: what it forbids or keeps
    read-only is refused (403 `policy_refuses`); that it escalates is what the handler is for.
    When it wants two approvals, the handler's is the first and the action waits in the rule's
    queue for another person (four eyes); otherwise it is approved and executes. Returns what
    the case's audit event records."""
    check_transition(action.status, Status.APPROVED)
    actor = Actor.user(by.pk)
    edited = params is not None and params != action.effective_params
    if edited:
        edit_reason = reason_code_for(reason_code, kind=DecisionKind.EDIT, required=True)
        validate_params(
            action_type_key=action.action_type.key,
            schema=action.action_type.params_schema,
            params=params,
        )
        before = action.effective_params
        action.final_params = params  # first: the edit is bound to the params it sets
        set_listing_fields(action, params)
        record_decision(action, by=by, kind=DecisionKind.EDIT, reason=edit_reason, note=note)
    _, authority = policy_decision(
        agent_name=action.agent.name,
        action_type=action.action_type.key,
        params=action.effective_params,
        context=action.context,
    )
    if authority.mode in HANDLER_REFUSED_MODES:
        raise Forbidden(
            f"The policy does not let these params execute: {authority.explanation}",
            code=Code.POLICY_REFUSES,
            details={"mode": authority.mode, "rule": authority.rule_name},
        )
    approve_reason = None if edited else reason_code_for(
        reason_code, kind=DecisionKind.APPROVE, required=False
    )  # fmt: skip
    _record_handler_approval(action, by=by, edited=edited, reason=approve_reason, note=note)
    required = authority.approvals_required if authority.mode == Mode.EXECUTE_GATED else 1
    data: dict[str, Any] = {
        "by_handler": True,
        "reason_code": reason_code,
        "note": note,
        "params_hash": action.effective_params_hash,
        "authority": {"mode": authority.mode, "rule": authority.rule_name,
                      "approvals_required": required},
    }  # fmt: skip
    if edited:
        data.update(before=params_on_record(action, before), after=params_on_record(action, params))
    approvals, _ = approval_count(action)
    if approvals < required:
        action.approvals_required = required
        action.approver_role = authority.approver_role or action.approver_role
        action.queue = authority.queue or action.queue
        seconds = authority.sla_seconds or settings.COUNTERSIGN["DEFAULT_SLA_SECONDS"]
        action.sla_due_at = clock.now() + timedelta(seconds=seconds)
        action.sla_warn_at = clock.now() + timedelta(seconds=seconds * SLA_WARN_SHARE)
        data.update(approvals=approvals, required=required)
        move(action, Status.PENDING, actor=actor, verb=Verb.ACTION_APPROVAL_RECORDED, data=data,
             request_id=request_id)  # fmt: skip
    else:
        action.decided_at = clock.now()
        move(action, Status.APPROVED, actor=actor, verb=Verb.ACTION_APPROVED, data=data,
             request_id=request_id)  # fmt: skip
        execute_on_commit(action)
    return {"action_status": action.status, "edited": edited}


def _record_handler_approval(action: Action, *, by, edited: bool, reason, note: str) -> None:
    """The handler's approval, counted once: one who approved the action before (while it was
    pending, or before it failed) gives no second approval. Their edit counts as it; their earlier
    approval counts if it was for these very params; for other params they cannot approve again."""
    earlier = action.decisions.filter(kind__in=rulebook.APPROVAL_KINDS, by=by).first()
    if earlier is None:
        record_decision(action, by=by, kind=DecisionKind.APPROVE, reason=reason, note=note)
    elif not edited and earlier.params_hash != action.effective_params_hash:
        raise Conflict(
            "You already approved other params of this action; someone else must approve these.",
            code=Code.ALREADY_APPROVED,
        )


def escalated_action_reject(
    *, action: Action, by, reason_code: str | None, note: str = "", returned: bool = False,
    request_id: str = "",
) -> dict[str, Any]:  # fmt: skip
    """The handler rejects the escalated `action` with a reason code of kind `reject`, or returns
    it to its agent (`returned`): rejected with `returned-to-agent` and the guidance as its note,
    which the agent reads through `wait/` and its callback."""
    check_transition(action.status, Status.REJECTED)
    if returned:
        if not note.strip():
            raise InvalidInput(
                "Returning a case to its agent needs guidance in the note.",
                code=Code.NOTE_REQUIRED,
            )
        reason = system_reason_code(RETURNED_CODE)
        reason_code = RETURNED_CODE
    else:
        reason = reason_code_for(reason_code, kind=DecisionKind.REJECT, required=True)
    record_decision(action, by=by, kind=DecisionKind.REJECT, reason=reason, note=note)
    action.decided_at = clock.now()
    move(action, Status.REJECTED, actor=Actor.user(by.pk), verb=Verb.ACTION_REJECTED,
         data={"reason_code": reason_code, "note": note, "by_handler": True},
         request_id=request_id)  # fmt: skip
    return {"action_status": action.status}


def escalated_action_close(*, action: Action, by, note: str, request_id: str = "") -> dict:
    """The case was handled in another system: the escalated action ends `cancelled`, with the
    handler's note saying where and how."""
    check_transition(action.status, Status.CANCELLED)
    action.decided_at = clock.now()
    move(action, Status.CANCELLED, actor=Actor.user(by.pk), verb=Verb.ACTION_CANCELLED,
         data={"note": note, "resolved_outside": True, "by_handler": True},
         request_id=request_id)  # fmt: skip
    return {"action_status": action.status}

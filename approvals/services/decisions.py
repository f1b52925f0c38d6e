"""Deciding a pending action: approve (alone or as one of two), reject, and the agent's cancel."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents.models import Agent
from approvals import rulebook
from approvals.models import Action, DecisionKind, Status
from approvals.services.kernel import (
    approval_count,
    check_irreversible_confirmed,
    clear_claim,
    close_by_person,
    execute_on_commit,
    lock,
    lock_to_decide,
    move,
    reason_code_for,
    record_decision,
    save_and_record,
)
from audit.events import Verb
from audit.services import Actor
from config import clock


def action_approve(
    *,
    action_id: Any,
    by,
    reason_code: str | None = None,
    note: str = "",
    expected_version: int | None = None,
    confirm_irreversible: bool = False,
    request_id: str = "",
) -> Action:
    """Record one approval; the action is approved (and enqueued) once it has enough.

    An action whose type nothing can undo (a credentials reset) is approved only with
    `confirm_irreversible`: the approver says they know a rollback will not be possible.
    """
    with transaction.atomic(durable=True):
        action, _ = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_approve
        )
        check_irreversible_confirmed(action, confirm_irreversible)
        reason = reason_code_for(reason_code, kind=DecisionKind.APPROVE, required=False)
        record_decision(action, by=by, kind=DecisionKind.APPROVE, reason=reason, note=note)
        approvals, fresh_eyes = approval_count(action)
        data = {
            "reason_code": reason_code,
            "note": note,
            "approvals": approvals,
            "required": action.approvals_required,
            "params_hash": action.effective_params_hash,
        }
        actor = Actor.user(by.pk)
        if approvals < action.approvals_required or not fresh_eyes:
            # The next approver must be someone else: the first one's claim would only hold them up.
            clear_claim(action)
            save_and_record(
                action, actor=actor, verb=Verb.ACTION_APPROVAL_RECORDED, data=data,
                request_id=request_id,
            )  # fmt: skip
            return action
        action.decided_at = clock.now()
        move(
            action, Status.APPROVED, actor=actor, verb=Verb.ACTION_APPROVED, data=data,
            request_id=request_id,
        )  # fmt: skip
        execute_on_commit(action)
    return action


def action_reject(
    *,
    action_id: Any,
    by,
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    with transaction.atomic(durable=True):
        action, _ = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_reject
        )
        close_by_person(
            action, by=by, kind=DecisionKind.REJECT, status=Status.REJECTED,
            verb=Verb.ACTION_REJECTED, reason_code=reason_code, note=note, request_id=request_id,
        )  # fmt: skip
    return action


def action_cancel(*, action_id: Any, agent: Agent, request_id: str = "") -> Action:
    """The agent withdraws its own pending action."""
    with transaction.atomic(durable=True):
        action = lock(action_id)
        rulebook.enforce(rulebook.may_cancel(agent.pk, rulebook.facts_of(action)))
        move(
            action, Status.CANCELLED,
            actor=Actor.agent(agent.pk), verb=Verb.ACTION_CANCELLED, request_id=request_id,
        )  # fmt: skip
    return action

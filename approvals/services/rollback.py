"""Rollback: a person undoes a succeeded action within its type's window; a worker runs the
executor's compensation (outside any transaction) and records how it ended."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from approvals import handoff, rulebook
from approvals.models import Action, DecisionKind, Status
from approvals.services.kernel import (
    compensate_on_commit,
    escalation_tier_of,
    lock,
    lock_to_decide,
    move,
    reason_code_for,
    record_decision,
)
from audit.events import Verb
from audit.services import Actor
from execution import ExecutionFailed, OutcomeUnknown, executor_for

logger = logging.getLogger(__name__)


class CompensationRetry(Exception):
    """A compensation failed in a way that may pass (transient): the task tries again later.
    Nothing was recorded; the action stays `rolling_back`."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


def action_rollback(
    *,
    action_id: Any,
    by,
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A person asks to undo a succeeded action, with a reason code of kind `rollback`.

    Only within the action type's rollback window, only for types whose executor can compensate
    (a credentials reset cannot be undone: 409 `not_compensable` says why), and only by someone
    who may decide actions of its queue. Records the decision, moves it to `rolling_back` and on
    commit enqueues `compensate_action`.
    """
    with transaction.atomic(durable=True):
        action, _ = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_roll_back
        )
        reason = reason_code_for(reason_code, kind=DecisionKind.ROLLBACK, required=True)
        record_decision(action, by=by, kind=DecisionKind.ROLLBACK, reason=reason, note=note)
        move(
            action, Status.ROLLING_BACK,
            actor=Actor.user(by.pk), verb=Verb.ACTION_ROLLBACK_REQUESTED,
            data={"reason_code": reason_code, "note": note}, request_id=request_id,
        )  # fmt: skip
        compensate_on_commit(action)
    return action


def action_compensate(*, action_id: Any, final_attempt: bool = True) -> Action | None:
    """Run the compensation of an action that is `rolling_back`; safe to call again: it exits
    when the action is not rolling back (a redelivered task stops here).

    A transient failure raises `CompensationRetry` unless this is the `final_attempt`; any other
    failure (or a transient one on the final attempt) ends the action `rollback_failed`.
    """
    with transaction.atomic(durable=True):
        action = lock(action_id)
        if action.status != Status.ROLLING_BACK:
            return None

    executor = executor_for(action.action_type.key)
    try:
        result, error = executor.compensate(action), None
    except ExecutionFailed as exc:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        if exc.transient and not isinstance(exc, OutcomeUnknown) and not final_attempt:
            raise CompensationRetry(error) from exc
        result = None
    except Exception as exc:
        logger.exception("compensation of %s crashed", action_id)
        result, error = None, {"code": "compensation_crashed", "message": str(exc), "details": {}}

    with transaction.atomic(durable=True):
        action = lock(action_id)
        if action.status != Status.ROLLING_BACK:
            return action  # another delivery finished it meanwhile
        if error is None:
            action.result = {**(action.result or {}), "rollback": result}
            move(action, Status.ROLLED_BACK, actor=Actor.system("worker"),
                  verb=Verb.ACTION_ROLLED_BACK, data={"result": result})  # fmt: skip
        else:
            action.error = {**error, "during": "rollback"}
            move(action, Status.ROLLBACK_FAILED, actor=Actor.system("worker"),
                  verb=Verb.ACTION_ROLLBACK_FAILED, data={"error": error})  # fmt: skip
            handoff.desk().open_case(
                action=action, source=handoff.Source.ROLLBACK, actor=Actor.system("worker"),
                reason=f"The rollback failed: {error['message']}",
                tier=escalation_tier_of(action),
            )  # fmt: skip
    return action

"""Executing an approved action: at-least-once delivery, exactly-once effect, and reconciliation.

An attempt takes a lease on the action in a short transaction, runs the executor outside any
transaction, and writes the outcome only if it still holds the lease. Executors are idempotent on
the action id, so an attempt that takes over from a worker that died after the target applied the
action replays it instead of repeating it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from approvals import handoff, rulebook
from approvals.models import Action, DecisionKind, Status
from approvals.services.kernel import (
    enforce,
    escalation_tier_of,
    execute_on_commit,
    lock,
    lock_for,
    move,
    reason_code_for,
    record_decision,
    save_and_record,
    unapproved_params_reason,
)
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, InvalidInput
from execution import ExecutionFailed, OutcomeUnknown, executor_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Lease:
    action: Action
    owner: str
    attempt: int


def _execution_settings() -> dict[str, Any]:
    return settings.COUNTERSIGN


def _lease_owner(task_id: str, attempt: int) -> str:
    # Unique per attempt, and says where to look when one goes wrong.
    return f"{socket.gethostname()}:{os.getpid()}:{task_id or uuid.uuid4().hex[:12]}:{attempt}"


def _retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: half the step for sure, the other half at random."""
    conf = _execution_settings()
    cap = min(
        conf["EXECUTION_RETRY_MAX_SECONDS"],
        conf["EXECUTION_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1),
    )
    return cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 (spreading load, not secrecy)


def _release_lease(action: Action, *, next_due_at=None) -> None:
    action.lease_owner = ""
    action.lease_expires_at = next_due_at


def _fail_and_escalate(action: Action, *, error: dict[str, Any], actor: Actor) -> None:
    """Retries ran out: the action fails, and a person gets the case with the error."""
    action.error = {key: error[key] for key in ("code", "message", "details")}
    action.finished_at = clock.now()
    _release_lease(action)
    move(action, Status.FAILED, actor=actor, verb=Verb.ACTION_FAILED, data={"error": error})
    move(action, Status.ESCALATED, actor=actor, verb=Verb.ACTION_ESCALATED,
          data={"error": error, "attempts": action.attempts})  # fmt: skip
    reason = f"Execution failed after {action.attempts} attempt(s): {error['message']}"
    _open_case(action, handoff.Source.FAILURE, actor=actor, reason=reason)


def _refuse_unapproved(action: Action, *, reason: str, actor: Actor) -> None:
    """Fail closed: params that no counted approval was given for never reach the executor. Not
    retried and not escalated: the action's row no longer says what people approved, so nobody
    should act on it before finding out why (the audit trail has every approved version)."""
    logger.error("refused to execute %s: %s", action.pk, reason)
    action.error = {
        "code": Code.PARAMS_NOT_APPROVED.value,
        "message": f"Refused to execute: {reason}.",
        "details": {"params_hash": action.effective_params_hash},
    }
    action.finished_at = clock.now()
    _release_lease(action)
    move(action, Status.FAILED, actor=actor, verb=Verb.ACTION_FAILED,
         data={"error": {**action.error, "transient": False}})  # fmt: skip


def _open_case(action: Action, source: handoff.Source, *, actor: Actor, reason: str) -> None:
    """A person must look at what execution could not finish: a case in the rule's tier."""
    handoff.desk().open_case(
        action=action, source=source, reason=reason, actor=actor, tier=escalation_tier_of(action)
    )


def _execution_lease_take(*, action_id: Any, task_id: str) -> _Lease | None:
    """Start the next attempt, or say there is none to run now (None).

    - `approved`: the first attempt starts.
    - `executing` under a live lease (an attempt running, or a retry not due yet): nothing to do;
      a redelivered message must never start a second attempt beside a live one.
    - `executing` with the lease run out: its worker died, or a retry is due. The next attempt
      takes over, unless the attempts are used up: then the action fails and escalates.
    - anything else (finished, or never approved): nothing to do.
    """
    conf = _execution_settings()
    worker = Actor.system("worker")
    with transaction.atomic(durable=True):
        action = lock(action_id)
        now = clock.now()
        previous_owner = action.lease_owner
        if action.status == Status.EXECUTING:
            if action.lease_expires_at is not None and action.lease_expires_at > now:
                return None
            if action.attempts >= conf["EXECUTION_MAX_ATTEMPTS"]:
                error = {
                    "code": "attempts_exhausted",
                    "message": f"No attempt of {action.attempts} finished"
                    + (f"; the last error: {action.error['message']}" if action.error else ""),
                    "details": {"last_error": action.error, "last_lease_owner": previous_owner},
                }
                _fail_and_escalate(action, error=error, actor=worker)
                return None
        elif action.status != Status.APPROVED:
            return None
        reason = unapproved_params_reason(action)
        if reason:
            _refuse_unapproved(action, reason=reason, actor=worker)
            return None
        action.attempts += 1
        owner = _lease_owner(task_id, action.attempts)
        action.lease_owner = owner
        action.lease_expires_at = now + timedelta(seconds=conf["EXECUTION_LEASE_SECONDS"])
        data = {"attempt": action.attempts, "lease_owner": owner}
        if action.status == Status.APPROVED:
            action.execution_started_at = now
            move(action, Status.EXECUTING, actor=worker, verb=Verb.ACTION_EXECUTION_STARTED,
                  data=data)  # fmt: skip
        else:
            # A lease that ran out with an owner: that attempt never finished (its worker died or
            # outran the lease). Without one: a transient failure's retry is due.
            verb = (
                Verb.ACTION_EXECUTION_RECOVERED if previous_owner else Verb.ACTION_EXECUTION_RETRIED
            )
            if previous_owner:
                data["previous_lease_owner"] = previous_owner
            save_and_record(action, actor=worker, verb=verb, data=data)
    return _Lease(action=action, owner=owner, attempt=action.attempts)


def _run_executor(action: Action) -> tuple[dict | None, ExecutionFailed | None]:
    try:
        return executor_for(action.action_type.key).execute(action), None
    except ExecutionFailed as exc:
        return None, exc
    except Exception as exc:
        # A bug or an unexpected answer: not known to be safe to repeat, so not retried.
        logger.exception("executor for %s crashed", action.pk)
        return None, ExecutionFailed(str(exc), code=Code.EXECUTOR_CRASHED)


def _error_dict(exc: ExecutionFailed) -> dict[str, Any]:
    # The shape agents read in `error`; the attempt is `attempts`, and the audit has the rest.
    return {"code": exc.code, "message": exc.message, "details": exc.details}


def _execution_finish(
    lease: _Lease, result: dict | None, failure: ExecutionFailed | None
) -> Action | None:
    """Write one attempt's outcome, if the attempt still holds the lease."""
    conf = _execution_settings()
    worker = Actor.system("worker")
    with transaction.atomic(durable=True):
        action = lock(lease.action.pk)
        if action.status != Status.EXECUTING or action.lease_owner != lease.owner:
            # This attempt outran its lease and another took over: that one's outcome counts.
            logger.warning("attempt %s of %s lost its lease", lease.attempt, action.pk)
            audit_record(
                actor=worker, verb=Verb.ACTION_EXECUTION_LEASE_LOST, object_type="action",
                object_id=action.pk,
                data={"attempt": lease.attempt, "lease_owner": lease.owner,
                      "outcome": "succeeded" if failure is None else failure.code},
            )  # fmt: skip
            return None
        now = clock.now()
        if failure is None:
            action.result = result
            action.error = None
            action.finished_at = now
            _release_lease(action)
            move(action, Status.SUCCEEDED, actor=worker, verb=Verb.ACTION_SUCCEEDED,
                  data={"result": result, "attempt": lease.attempt})  # fmt: skip
            return action
        error = _error_dict(failure)
        action.error = error
        error = {**error, "transient": failure.transient, "attempt": lease.attempt}  # audited
        if isinstance(failure, OutcomeUnknown):
            _release_lease(action)
            move(action, Status.NEEDS_RECONCILIATION, actor=worker,
                  verb=Verb.ACTION_NEEDS_RECONCILIATION, data={"error": error})  # fmt: skip
            reason = f"The target may or may not have applied it: {error['message']}"
            _open_case(action, handoff.Source.RECONCILIATION, actor=worker, reason=reason)
        elif failure.transient and lease.attempt < conf["EXECUTION_MAX_ATTEMPTS"]:
            delay = _retry_delay(lease.attempt)
            _release_lease(action, next_due_at=now + timedelta(seconds=delay))
            save_and_record(
                action, actor=worker, verb=Verb.ACTION_RETRY_SCHEDULED,
                data={"error": error, "retry_in_seconds": round(delay, 3)},
            )  # fmt: skip
            execute_on_commit(action, countdown=delay)
        elif failure.transient:
            _fail_and_escalate(action, error=error, actor=worker)
        else:
            action.finished_at = now
            _release_lease(action)
            move(action, Status.FAILED, actor=worker, verb=Verb.ACTION_FAILED,
                  data={"error": error})  # fmt: skip
    return action


def action_execute(*, action_id: Any, task_id: str = "") -> Action | None:
    """Run the next attempt of an approved action. Safe to call any number of times, from any
    number of workers: it returns None, doing nothing, when there is no attempt to run now."""
    lease = _execution_lease_take(action_id=action_id, task_id=task_id)
    if lease is None:
        return None
    result, failure = _run_executor(lease.action)
    return _execution_finish(lease, result, failure)


RECONCILE_OUTCOMES = {"succeeded": Status.SUCCEEDED, "failed": Status.FAILED}


def action_reconcile(
    *,
    action_id: Any,
    by,
    outcome: str,
    reason_code: str | None,
    note: str = "",
    request_id: str = "",
) -> Action:
    """A senior supervisor records what an execution of unknown outcome really did, having checked
    the target: `succeeded` (it applied) or `failed` (it did not). Nothing is executed again."""
    if outcome not in RECONCILE_OUTCOMES:
        raise InvalidInput(
            "The outcome is succeeded or failed.", code=Code.INVALID_OUTCOME,
            details={"outcome": outcome},
        )  # fmt: skip
    with transaction.atomic(durable=True):
        action, person = lock_for(action_id, by)
        enforce(person, action, rulebook.may_reconcile, target=RECONCILE_OUTCOMES[outcome])
        reason = reason_code_for(reason_code, kind=DecisionKind.RECONCILE, required=True)
        record_decision(action, by=by, kind=DecisionKind.RECONCILE, reason=reason, note=note)
        action.finished_at = clock.now()
        if outcome == "succeeded":
            action.result = {"reconciled": True, "note": note}
        move(
            action, RECONCILE_OUTCOMES[outcome],
            actor=Actor.user(by.pk), verb=Verb.ACTION_RECONCILED,
            data={"outcome": outcome, "reason_code": reason_code, "note": note},
            request_id=request_id,
        )  # fmt: skip
    return action

"""Every change to an action: one function per use case, one transaction each.

Each service locks the row, checks the transition table, writes the change and its audit event in
the same transaction, and schedules the websocket push and the Celery enqueue on commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from agents.breakers import breaker_apply
from agents.models import Agent
from approvals import callbacks
from approvals.executors import ExecutionFailed, OutcomeUnknown, executor_for
from approvals.models import (
    AWAITING_STATUSES,
    Action,
    Decision,
    DecisionKind,
    Priority,
    Queue,
    ReasonCode,
    Role,
    Status,
)
from approvals.realtime import publish
from approvals.selectors import (
    action_is_batchable,
    parse_action_id,
    policy_decision,
    queue_name_of,
    user_may_see,
    user_queue_names,
)
from approvals.transitions import check_transition
from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import ApplicationError, Conflict, Forbidden, InvalidInput, NotFound
from escalations.models import Escalation
from escalations.services import escalation_open
from policies.engine import Decision as PolicyDecision
from policies.models import Mode
from policies.validation import validate_params

logger = logging.getLogger(__name__)

EXECUTE_TASK = "approvals.tasks.execute_action"
COMPENSATE_TASK = "approvals.tasks.compensate_action"
# Decisions that count towards an action's approvals: adopting a recommendation is approving it.
APPROVAL_KINDS = (DecisionKind.APPROVE, DecisionKind.ADOPT)

MODE_STATUS = {
    Mode.FORBIDDEN: Status.BLOCKED,
    Mode.READ_ONLY: Status.BLOCKED,
    Mode.RECOMMEND_ONLY: Status.RECOMMENDED,
    Mode.DRAFT_ONLY: Status.DRAFTED,
    Mode.EXECUTE_LIMITED: Status.APPROVED,
    Mode.EXECUTE_GATED: Status.PENDING,
    Mode.ESCALATE: Status.ESCALATED,
}


class IdempotencyKeyReused(ApplicationError):
    status_code = 422
    default_code = "idempotency_key_reused"


class StaleVersion(Conflict):
    default_code = "stale_version"


class ClaimedByOther(Conflict):
    default_code = "claimed_by_other"


@dataclass(frozen=True)
class SubmitResult:
    action: Action
    replayed: bool


def request_fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _submission_fingerprint(
    *, action_type: str, params: dict, context: dict, intent: str, callback_url: str
) -> str:
    # Computed here, not by the caller: an idempotent replay must match on everything that
    # shapes the action, whichever interface submitted it.
    return request_fingerprint(
        {
            "action_type": action_type,
            "params": params,
            "context": context,
            "intent": intent,
            "callback_url": callback_url or "",
        }
    )


# ---------------------------------------------------------------------------------------------
# on-commit side effects


def _on_commit_push(
    action: Action,
    previous_status: str | None = None,
    previous_queue: str | None = None,
    *,
    created: bool = False,
) -> None:
    payload = {
        "action_id": str(action.pk),
        "status": action.status,
        "version": action.version,
        "queue": action.queue,
        # Claims change `updated_at`, not the version: consumers key their render cache on both.
        "updated_at": action.updated_at.isoformat() if action.updated_at else "",
        # Live per-queue counts apply the move from this status to `status` (same: no move).
        "previous_status": str(previous_status or action.status),
        # An edit can route an action to another queue: that queue's dashboards must drop it.
        "previous_queue": action.queue if previous_queue is None else previous_queue,
    }
    transaction.on_commit(
        lambda: publish.publish_action_changed(payload, action=action, created=created)
    )


def _enqueue_execution(action_id: uuid.UUID, countdown: float | None = None) -> None:
    try:
        options = {"countdown": countdown} if countdown else {}
        current_app.send_task(EXECUTE_TASK, kwargs={"action_id": str(action_id)}, **options)
    except Exception:
        # The broker is down: the action stays `approved` and the sweeper enqueues it again.
        logger.exception("could not enqueue execution of %s; the sweeper will retry", action_id)


def _on_commit_execute(action: Action, countdown: float | None = None) -> None:
    action_id = action.pk
    transaction.on_commit(lambda: _enqueue_execution(action_id, countdown))


# ---------------------------------------------------------------------------------------------
# helpers that run inside a service's transaction


def _lock(action_id: Any) -> Action:
    try:
        return (
            Action.objects.select_for_update(of=("self",))
            .select_related("agent", "action_type")
            .get(pk=parse_action_id(action_id))
        )
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code="action_not_found") from exc


def _lock_for(action_id: Any, by) -> Action:
    """Lock an action a person is about to decide. One outside their queues is as unknown to them
    as a missing one (404 `action_not_found`), for writes as for reads: a refusal must not tell
    them the action exists, nor its status or version."""
    action = _lock(action_id)
    if not user_may_see(user=by, action=action):
        raise NotFound("No such action.", code="action_not_found")
    return action


def _move(action: Action, target: Status, *, actor: Actor, verb: Verb, data=None, request_id=""):
    before = action.status
    check_transition(before, target)
    action.status = target
    if target not in AWAITING_STATUSES:
        _clear_claim(action)  # nobody reviews what no longer waits for a person
    action.version += 1
    action.save()
    audit_record(
        actor=actor,
        verb=verb,
        object_type="action",
        object_id=action.pk,
        data={"from": before, "to": str(target), **(data or {})},
        request_id=request_id,
    )
    _on_commit_push(action, previous_status=before)
    callbacks.schedule(action, event=target, data=data)  # in this transaction: never lost


def _reason_code(code: str | None, *, kind: DecisionKind, required: bool) -> ReasonCode | None:
    if not code:
        if required:
            raise InvalidInput(
                f"A reason code is required to {kind.value}.", code="reason_code_required"
            )
        return None
    reason = ReasonCode.objects.filter(code=code, is_active=True).first()
    if reason is None or (reason.kinds and kind.value not in reason.kinds):
        raise InvalidInput(
            f"{code!r} is not a reason code for {kind.value}.",
            code="unknown_reason_code",
            details={"reason_code": code, "kind": kind.value},
        )
    return reason


def _check_expected_version(action: Action, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != action.version:
        raise StaleVersion(
            "This action changed since you loaded it; review the fresh state and decide again.",
            details={"current_version": action.version, "status": action.status},
        )


def _claim_refusal(action: Action, *, now) -> ClaimedByOther:
    holder = action.claimed_by.get_username()
    until = action.claim_expires_at
    return ClaimedByOther(
        f"{holder} is reviewing this action (claimed until {until:%H:%M:%S} UTC).",
        details={"claimed_by": holder, "claim_expires_at": until.isoformat()},
    )


def _check_claim(action: Action, user) -> None:
    """Someone else's live claim keeps everybody else's hands off the action until it ends."""
    now = timezone.now()
    holder = action.claim_holder_id(now)
    if holder is not None and holder != user.pk:
        raise _claim_refusal(action, now=now)


def _clear_claim(action: Action) -> None:
    action.claimed_by = None
    action.claimed_at = None
    action.claim_expires_at = None


def _check_irreversible_confirmed(action: Action, confirmed: bool) -> None:
    executor = executor_for(action.action_type.key)
    if not executor.compensable and not confirmed:
        raise InvalidInput(
            f"{action.action_type.name} cannot be undone once it executes: "
            f"{executor.why_not_compensable(action.action_type.key)} Confirm that you know this "
            "to approve it.",
            code="confirmation_required",
            details={"action_type": action.action_type.key, "confirm": "confirm_irreversible"},
        )


def _holds_role(user, role: str) -> bool:
    return user.groups.filter(name__in=sorted(Role.granting(role))).exists()


def _check_may_decide(action: Action, user, role: str | None = None) -> None:
    _check_claim(action, user)
    _check_role_and_operator(
        action, user, role=role or action.approver_role, doing="Deciding", may=user.is_superuser
    )


def _check_role_and_operator(action: Action, user, *, role: str, doing: str, may: bool) -> None:
    """`user` needs `role` (unless `may` already lets them), and must not operate the agent that
    requested the action: nobody reviews their own request."""
    if not may and not _holds_role(user, role):
        raise Forbidden(
            f"{doing} this action needs the {role!r} role.",
            code="missing_role",
            details={"role": role},
        )
    if action.agent.operators.filter(pk=user.pk).exists():
        raise Forbidden(
            "You operate the agent that requested this action, so you cannot review or decide it.",
            code="own_request",
        )


def _approval_count(action: Action) -> tuple[int, bool]:
    """How many approvals count towards `approvals_required`, and whether fresh eyes saw the params.

    Four eyes over edits: approvals given before the latest edit were for other params and no
    longer count, except the latest editor's own (editing is approving with changes). And an edited
    action also needs an approval, given after the latest edit, from someone who edited none of it:
    nobody gets an action approved on edits of their own alone. Without edits, every approval counts
    and the second condition holds.
    """
    decisions = list(
        action.decisions.filter(kind__in=[*APPROVAL_KINDS, DecisionKind.EDIT]).order_by(
            "created_at", "id"
        )
    )
    edits = [d for d in decisions if d.kind == DecisionKind.EDIT]
    approvals = [d for d in decisions if d.kind in APPROVAL_KINDS]
    if not edits:
        return len({d.by_id for d in approvals}), True
    latest = edits[-1]
    editors = {d.by_id for d in edits}
    counted = {
        d.by_id
        for d in approvals
        if d.action_version > latest.action_version or d.by_id == latest.by_id
    }
    return len(counted), bool(counted - editors)


# ---------------------------------------------------------------------------------------------
# use cases


def action_submit(
    *,
    agent: Agent,
    action_type: str,
    params: dict[str, Any],
    context: dict[str, Any] | None = None,
    intent: str = "execute",
    callback_url: str = "",
    idempotency_key: str | None = None,
    request_id: str = "",
) -> SubmitResult:
    """Decide an agent's action by the active policy and record it with its decision."""
    context = context or {}
    request_hash = _submission_fingerprint(
        action_type=action_type, params=params, context=context, intent=intent,
        callback_url=callback_url,
    )  # fmt: skip
    if idempotency_key:
        replay = _replay(agent=agent, key=idempotency_key, request_hash=request_hash)
        if replay is not None:
            return replay

    action_type_obj, decision = policy_decision(
        agent_name=agent.name,
        action_type=action_type,
        params=params,
        context=context,
        intent=intent,
    )
    try:
        with transaction.atomic(durable=True):
            action = _create_decided_action(
                agent=agent,
                action_type=action_type_obj,
                params=params,
                context=context,
                intent=intent,
                callback_url=callback_url,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                decision=decision,
                request_id=request_id,
            )
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer as its replay.
        replay = idempotency_key and _replay(
            agent=agent, key=idempotency_key, request_hash=request_hash
        )
        if not replay:
            raise
        return replay
    return SubmitResult(action=action, replayed=False)


def _replay(*, agent: Agent, key: str, request_hash: str) -> SubmitResult | None:
    existing = Action.objects.filter(agent=agent, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            details={"action_id": str(existing.pk)},
        )
    return SubmitResult(action=existing, replayed=True)


def _listing_amount(value: Any) -> int | None:
    # Only a real, non-negative integer is money in minor units; an action type whose schema
    # allows anything else keeps it in params, not in the column the queue sorts by.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _priority(context: dict[str, Any]) -> Priority:
    """The agent may say how urgent an action is (`context.priority`: low, normal, high or
    urgent); anything else reads as normal. It only orders the queue: it never changes a decision.
    """
    stated = context.get("priority")
    if not isinstance(stated, str):
        return Priority.NORMAL
    return {p.label.lower(): p for p in Priority}.get(stated.lower(), Priority.NORMAL)


def _sla_due_at(now, decision: PolicyDecision, status: Status):
    if status not in AWAITING_STATUSES:
        return None
    seconds = decision.sla_seconds or settings.COUNTERSIGN["DEFAULT_SLA_SECONDS"]
    return now + timedelta(seconds=seconds)


def _create_decided_action(
    *, agent, action_type, params, context, intent, callback_url, idempotency_key, request_hash,
    decision: PolicyDecision, request_id,
) -> Action:  # fmt: skip
    # Inside the transaction, before the insert: a breaker's counter lock is held until commit.
    decision = breaker_apply(agent=agent, action_type=action_type, params=params, decision=decision)
    target = MODE_STATUS[Mode(decision.mode)]
    check_transition(Status.SUBMITTED, target)
    now = timezone.now()
    action = Action.objects.create(
        agent=agent,
        action_type=action_type,
        status=target,
        params=params,
        context=context,
        intent=intent,
        callback_url=callback_url or "",
        amount=_listing_amount(params.get("amount")),
        currency=str(params.get("currency", ""))[:3],
        order_ref=str(params.get("order_id", ""))[:64],
        idempotency_key=idempotency_key or None,
        request_hash=request_hash,
        mode=decision.mode,
        policy_version_id=decision.policy_version_id,
        rule_id=decision.rule_id,
        rule_name=decision.rule_name,
        explanation=decision.explanation[:500],
        approvals_required=decision.approvals_required,
        approver_role=decision.approver_role,
        queue=decision.queue,
        priority=_priority(context),
        sla_due_at=_sla_due_at(now, decision, target),
        decided_at=now if target != Status.PENDING else None,
    )
    audit_record(
        actor=Actor.agent(agent.pk),
        verb=Verb.ACTION_SUBMITTED,
        object_type="action",
        object_id=action.pk,
        data={
            "action_type": action_type.key,
            "params": params,
            "status": target,
            "decision": decision.as_dict(),
        },
        request_id=request_id,
    )
    if target == Status.ESCALATED:
        escalation_open(
            agent_id=agent.pk,
            action_id=action.pk,
            source=Escalation.Source.POLICY,
            tier=decision.escalation_tier,
            reason=decision.explanation,
            actor=Actor.system("policy"),
        )
    _on_commit_push(action, previous_status=Status.SUBMITTED, created=True)
    if target == Status.APPROVED:
        _on_commit_execute(action)
    return action


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
        action = _lock_for(action_id, by)
        _check_expected_version(action, expected_version)
        check_transition(action.status, Status.APPROVED)
        if action.status != Status.PENDING:
            raise Conflict(f"An action that is {action.status} is not awaiting approval.")
        _check_may_decide(action, by)
        _check_irreversible_confirmed(action, confirm_irreversible)
        reason = _reason_code(reason_code, kind=DecisionKind.APPROVE, required=False)
        if action.decisions.filter(kind__in=APPROVAL_KINDS, by=by).exists():
            raise Conflict(
                "You already approved this action (editing it counts as approving it); "
                "someone else must approve it now.",
                code="already_approved",
            )
        Decision.objects.create(
            action=action,
            kind=DecisionKind.APPROVE,
            by=by,
            reason_code=reason,
            note=note,
            action_version=action.version,
        )
        approvals, fresh_eyes = _approval_count(action)
        data = {
            "reason_code": reason_code,
            "note": note,
            "approvals": approvals,
            "required": action.approvals_required,
        }
        if approvals < action.approvals_required or not fresh_eyes:
            # The next approver must be someone else: the first one's claim would only hold them up.
            _clear_claim(action)
            action.version += 1
            action.save()
            audit_record(
                actor=Actor.user(by.pk),
                verb=Verb.ACTION_APPROVAL_RECORDED,
                object_type="action",
                object_id=action.pk,
                data=data,
                request_id=request_id,
            )
            _on_commit_push(action)
            return action
        action.decided_at = timezone.now()
        _move(
            action, Status.APPROVED,
            actor=Actor.user(by.pk), verb=Verb.ACTION_APPROVED, data=data, request_id=request_id,
        )  # fmt: skip
        _on_commit_execute(action)
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
        action = _lock_for(action_id, by)
        _check_expected_version(action, expected_version)
        check_transition(action.status, Status.REJECTED)
        _check_may_decide(action, by)
        _close_by_person(
            action, by=by, kind=DecisionKind.REJECT, status=Status.REJECTED,
            verb=Verb.ACTION_REJECTED, reason_code=reason_code, note=note, request_id=request_id,
        )  # fmt: skip
    return action


def _close_by_person(
    action: Action, *, by, kind: DecisionKind, status: Status, verb: Verb,
    reason_code: str | None, note: str, request_id: str,
) -> None:  # fmt: skip
    """A person ends an action without executing it: the decision row, its reason, the move."""
    reason = _reason_code(reason_code, kind=kind, required=True)
    Decision.objects.create(
        action=action,
        kind=kind,
        by=by,
        reason_code=reason,
        note=note,
        action_version=action.version,
    )
    action.decided_at = timezone.now()
    _move(
        action, status,
        actor=Actor.user(by.pk), verb=verb,
        data={"reason_code": reason_code, "note": note}, request_id=request_id,
    )  # fmt: skip


def action_cancel(*, action_id: Any, agent: Agent, request_id: str = "") -> Action:
    """The agent withdraws its own pending action."""
    with transaction.atomic(durable=True):
        action = _lock(action_id)
        if action.agent_id != agent.pk:
            raise NotFound("No such action.", code="action_not_found")
        _move(
            action, Status.CANCELLED,
            actor=Actor.agent(agent.pk), verb=Verb.ACTION_CANCELLED, request_id=request_id,
        )  # fmt: skip
    return action


# ---------------------------------------------------------------------------------------------
# execution: at-least-once delivery, exactly-once effect. An attempt takes a lease on the action in
# a short transaction, runs the executor outside any transaction, and writes the outcome only if it
# still holds the lease. Executors are idempotent on the action id, so an attempt that takes over
# from a worker that died after the target applied the action replays it instead of repeating it.


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
    action.finished_at = timezone.now()
    _release_lease(action)
    _move(action, Status.FAILED, actor=actor, verb=Verb.ACTION_FAILED, data={"error": error})
    _move(action, Status.ESCALATED, actor=actor, verb=Verb.ACTION_ESCALATED,
          data={"error": error, "attempts": action.attempts})  # fmt: skip
    escalation_open(
        agent_id=action.agent_id,
        action_id=action.pk,
        source=Escalation.Source.FAILURE,
        reason=f"Execution failed after {action.attempts} attempt(s): {error['message']}",
        actor=actor,
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
        action = _lock(action_id)
        now = timezone.now()
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
        action.attempts += 1
        owner = _lease_owner(task_id, action.attempts)
        action.lease_owner = owner
        action.lease_expires_at = now + timedelta(seconds=conf["EXECUTION_LEASE_SECONDS"])
        data = {"attempt": action.attempts, "lease_owner": owner}
        if action.status == Status.APPROVED:
            action.execution_started_at = now
            _move(action, Status.EXECUTING, actor=worker, verb=Verb.ACTION_EXECUTION_STARTED,
                  data=data)  # fmt: skip
        else:
            # A lease that ran out with an owner: that attempt never finished (its worker died or
            # outran the lease). Without one: a transient failure's retry is due.
            verb = (
                Verb.ACTION_EXECUTION_RECOVERED if previous_owner else Verb.ACTION_EXECUTION_RETRIED
            )
            if previous_owner:
                data["previous_lease_owner"] = previous_owner
            action.version += 1
            action.save()
            audit_record(actor=worker, verb=verb, object_type="action", object_id=action.pk,
                         data=data)  # fmt: skip
            _on_commit_push(action)
    return _Lease(action=action, owner=owner, attempt=action.attempts)


def _run_executor(action: Action) -> tuple[dict | None, ExecutionFailed | None]:
    try:
        return executor_for(action.action_type.key).execute(action), None
    except ExecutionFailed as exc:
        return None, exc
    except Exception as exc:
        # A bug or an unexpected answer: not known to be safe to repeat, so not retried.
        logger.exception("executor for %s crashed", action.pk)
        return None, ExecutionFailed(str(exc), code="executor_crashed")


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
        action = _lock(lease.action.pk)
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
        now = timezone.now()
        if failure is None:
            action.result = result
            action.error = None
            action.finished_at = now
            _release_lease(action)
            _move(action, Status.SUCCEEDED, actor=worker, verb=Verb.ACTION_SUCCEEDED,
                  data={"result": result, "attempt": lease.attempt})  # fmt: skip
            return action
        error = _error_dict(failure)
        action.error = error
        error = {**error, "transient": failure.transient, "attempt": lease.attempt}  # audited
        if isinstance(failure, OutcomeUnknown):
            _release_lease(action)
            _move(action, Status.NEEDS_RECONCILIATION, actor=worker,
                  verb=Verb.ACTION_NEEDS_RECONCILIATION, data={"error": error})  # fmt: skip
        elif failure.transient and lease.attempt < conf["EXECUTION_MAX_ATTEMPTS"]:
            delay = _retry_delay(lease.attempt)
            _release_lease(action, next_due_at=now + timedelta(seconds=delay))
            action.version += 1
            action.save()
            audit_record(
                actor=worker, verb=Verb.ACTION_RETRY_SCHEDULED, object_type="action",
                object_id=action.pk,
                data={"error": error, "retry_in_seconds": round(delay, 3)},
            )  # fmt: skip
            _on_commit_push(action)
            _on_commit_execute(action, countdown=delay)
        elif failure.transient:
            _fail_and_escalate(action, error=error, actor=worker)
        else:
            action.finished_at = now
            _release_lease(action)
            _move(action, Status.FAILED, actor=worker, verb=Verb.ACTION_FAILED,
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
            "The outcome is succeeded or failed.", code="invalid_outcome",
            details={"outcome": outcome},
        )  # fmt: skip
    with transaction.atomic(durable=True):
        action = _lock_for(action_id, by)
        check_transition(action.status, RECONCILE_OUTCOMES[outcome])
        if not _may_take_over(by):
            raise Forbidden(
                "Reconciling an execution needs the 'senior_supervisor' role.",
                code="missing_role", details={"role": Role.SENIOR_SUPERVISOR.value},
            )  # fmt: skip
        reason = _reason_code(reason_code, kind=DecisionKind.RECONCILE, required=True)
        Decision.objects.create(
            action=action, kind=DecisionKind.RECONCILE, by=by, reason_code=reason, note=note,
            action_version=action.version,
        )  # fmt: skip
        action.finished_at = timezone.now()
        if outcome == "succeeded":
            action.result = {"reconciled": True, "note": note}
        _move(
            action, RECONCILE_OUTCOMES[outcome],
            actor=Actor.user(by.pk), verb=Verb.ACTION_RECONCILED,
            data={"outcome": outcome, "reason_code": reason_code, "note": note},
            request_id=request_id,
        )  # fmt: skip
    return action


# ---------------------------------------------------------------------------------------------
# claims: who is reviewing an action now. A claim is not a decision: it leaves `version` alone, so
# the version a reviewer decides on stays the one they saw; `updated_at` orders claim pushes.


def _claim_seconds() -> int:
    return settings.COUNTERSIGN["CLAIM_SECONDS"]


def _may_take_over(user) -> bool:
    return user.is_superuser or user.groups.filter(name=Role.SENIOR_SUPERVISOR).exists()


def _check_may_claim(action: Action, user) -> None:
    """A claim keeps everybody else's hands off an action, so only someone who could decide it (or
    a senior supervisor, who may take claims over) may hold one: not a QA reviewer or an auditor
    who happens to see the queue, nor an operator of the requesting agent."""
    _check_role_and_operator(
        action, user, role=action.approver_role, doing="Claiming", may=_may_take_over(user)
    )


def action_claim(*, action_id: Any, by, takeover_reason: str = "", request_id: str = "") -> Action:
    """Claim an action that waits for a person, for `CLAIM_SECONDS`; claiming it again renews.

    Someone else's live claim is refused with who holds it and until when, unless a senior
    supervisor takes it over with a reason (audited, and the holder sees it live).
    """
    takeover_reason = takeover_reason.strip()
    with transaction.atomic(durable=True):
        action = _lock_for(action_id, by)
        if action.status not in AWAITING_STATUSES:
            raise Conflict(
                f"An action that is {action.status} is not waiting for a person.",
                code="not_awaiting",
                details={"status": action.status},
            )
        _check_may_claim(action, by)
        now = timezone.now()
        holder = action.claim_holder_id(now)
        data: dict[str, Any] = {}
        if holder is not None and holder != by.pk:
            if not takeover_reason:
                raise _claim_refusal(action, now=now)
            if not _may_take_over(by):
                raise Forbidden(
                    "Only a senior supervisor can take over someone else's claim.",
                    code="takeover_needs_senior",
                )
            verb = Verb.ACTION_CLAIM_TAKEN_OVER
            data = {"previous": action.claimed_by.get_username(), "reason": takeover_reason}
        else:
            verb = None if holder == by.pk else Verb.ACTION_CLAIMED
        if verb is not None:
            action.claimed_at = now
        action.claimed_by = by
        action.claim_expires_at = now + timedelta(seconds=_claim_seconds())
        action.save(update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
        if verb is not None:  # a renewal is not news for the audit log
            audit_record(
                actor=Actor.user(by.pk),
                verb=verb,
                object_type="action",
                object_id=action.pk,
                data={"expires_at": action.claim_expires_at.isoformat(), **data},
                request_id=request_id,
            )
        _on_commit_push(action)
    return action


def action_release(
    *, action_id: Any, by, if_expires_at: datetime | None = None, request_id: str = ""
) -> Action:
    """Give up one's own claim. Releasing an action nobody holds changes nothing; someone else's
    live claim is theirs to release (409 `claimed_by_other`).

    `if_expires_at` releases only a claim nobody renewed since it was read: a page that is left
    sends the expiry it knew, so when the same person opens the action again (a reload, or the
    edit form) the release that the old page sends on its way out keeps the new page's claim.
    """
    with transaction.atomic(durable=True):
        action = _lock_for(action_id, by)
        now = timezone.now()
        holder = action.claim_holder_id(now)
        if holder is None:
            return action
        if holder == by.pk and if_expires_at and action.claim_expires_at > if_expires_at:
            return action
        if holder != by.pk:
            raise _claim_refusal(action, now=now)
        _clear_claim(action)
        action.save(update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.ACTION_RELEASED,
            object_type="action",
            object_id=action.pk,
            request_id=request_id,
        )
        _on_commit_push(action)
    return action


def actions_release_expired_claims(*, limit: int = 500) -> int:
    """Clear claims that ran out, so every dashboard shows the action free again (beat)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        expired = list(
            Action.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=AWAITING_STATUSES, claimed_by__isnull=False, claim_expires_at__lte=now
            )
            .order_by("claim_expires_at", "id")[:limit]
        )
        for action in expired:
            holder = action.claimed_by_id
            _clear_claim(action)
            action.save(
                update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"]
            )
            audit_record(
                actor=Actor.system("sweeper"),
                verb=Verb.ACTION_RELEASED,
                object_type="action",
                object_id=action.pk,
                data={"expired": True, "claimed_by": holder},
            )
            _on_commit_push(action)
    return len(expired)


def actions_requeue_stalled(*, older_than_seconds: float, limit: int = 500) -> int:
    """The sweeper (beat): enqueue again what nothing happened to for `older_than_seconds`:
    approved actions no worker started (broker down at commit, a crash between commit and enqueue,
    a lost message), and executing ones whose lease ran out (their worker died; the task takes
    over as the next attempt, or fails the action when its attempts are used up).

    Idempotent: an enqueue too many finds nothing to do. Rows another sweeper or a worker holds
    are skipped, and each swept action is touched, so the next sweep leaves it alone for a while.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    lease_over = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    stalled = Q(status=Status.APPROVED) | (Q(status=Status.EXECUTING) & lease_over)
    with transaction.atomic(durable=True):
        actions = list(
            Action.objects.select_for_update(skip_locked=True)
            .filter(stalled, updated_at__lt=cutoff)
            .order_by("updated_at", "id")[:limit]
        )
        for action in actions:
            action.save(update_fields=["updated_at"])  # pushes it out of the next sweep's window
            data = {"status": action.status, "attempts": action.attempts}
            if action.status == Status.EXECUTING:
                data["lease_owner"] = action.lease_owner
            audit_record(
                actor=Actor.system("sweeper"),
                verb=Verb.ACTION_REQUEUED,
                object_type="action",
                object_id=action.pk,
                data=data,
            )
            _on_commit_execute(action)
    return len(actions) + _rollbacks_requeue_stalled(now=now, limit=limit)


def _rollbacks_requeue_stalled(*, now, limit: int) -> int:
    """Rollbacks whose compensation task never ran (broker down when it was enqueued) or was lost
    with its worker: enqueue it again. Compensations are idempotent on the action id, so one run
    too many undoes nothing twice; the wait is long enough for a task's own retries to finish."""
    cutoff = now - timedelta(seconds=settings.COUNTERSIGN["ROLLBACK_STALL_AFTER_SECONDS"])
    with transaction.atomic(durable=True):
        actions = list(
            Action.objects.select_for_update(skip_locked=True)
            .filter(status=Status.ROLLING_BACK, updated_at__lt=cutoff)
            .order_by("updated_at", "id")[:limit]
        )
        for action in actions:
            action.save(update_fields=["updated_at"])
            audit_record(
                actor=Actor.system("sweeper"),
                verb=Verb.ACTION_REQUEUED,
                object_type="action",
                object_id=action.pk,
                data={"status": action.status},
            )
            action_id = action.pk
            transaction.on_commit(lambda action_id=action_id: _enqueue_compensation(action_id))
    return len(actions)


def _queues_named(names: Sequence[str]) -> list[Queue]:
    """The queues called `names`, in that order; an unknown name is refused with the known ones."""
    wanted = [name.strip() for name in names if name.strip()]
    found = {q.name: q for q in Queue.objects.filter(name__in=wanted).order_by("name")}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        known = list(Queue.objects.order_by("name").values_list("name", flat=True))
        raise InvalidInput(
            f"Unknown queue(s): {', '.join(unknown)}; known queues: "
            f"{', '.join(known) or 'none (run load_demo or create one)'}.",
            code="unknown_queue",
            details={"unknown": unknown, "known": known},
        )
    return [found[name] for name in dict.fromkeys(wanted)]


def queues_ensure(*, names: Sequence[str], actor: Actor) -> int:
    """Create the queues called `names` that do not exist yet; how many were created."""
    created = 0
    with transaction.atomic():
        for name in names:
            queue, is_new = Queue.objects.get_or_create(name=name, defaults={"slug": slugify(name)})
            if is_new:
                created += 1
                audit_record(
                    actor=actor,
                    verb=Verb.QUEUE_CREATED,
                    object_type="queue",
                    object_id=queue.pk,
                    data={"name": name, "slug": queue.slug},
                )
    return created


def queue_members_add(*, user, queue_names: Sequence[str], actor: Actor) -> list[str]:
    """Make `user` a member of the named queues (already a member: nothing changes); the names of
    the queues they newly joined."""
    queues = _queues_named(queue_names)
    with transaction.atomic():
        joined = [q for q in queues if not q.members.filter(pk=user.pk).exists()]
        for queue in joined:
            queue.members.add(user)
            audit_record(
                actor=actor,
                verb=Verb.QUEUE_MEMBER_ADDED,
                object_type="queue",
                object_id=queue.pk,
                data={"queue": queue.name, "user": user.get_username()},
            )
    return [q.name for q in joined]


def supervisor_create(
    *, username: str, password: str, role: str = "supervisor", queues: Sequence[str] = ()
) -> Any:
    """A person who works the queues named `queues`, in one of the roles (a Django group)."""
    if role not in Role.values:
        raise InvalidInput(
            f"Unknown role {role!r}; one of {', '.join(Role.values)}.", code="unknown_role"
        )
    queue_objs = _queues_named(queues)
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise Conflict(f"A user named {username!r} already exists.", code="user_exists")
    try:
        validate_password(password, user_model(username=username))
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code="weak_password") from exc
    with transaction.atomic(durable=True):
        user = user_model.objects.create_user(username=username, password=password)
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        for queue in queue_objs:
            queue.members.add(user)
        audit_record(
            actor=Actor.system("cli"),
            verb=Verb.USER_CREATED,
            object_type="user",
            object_id=user.pk,
            data={"username": username, "role": role, "queues": [q.name for q in queue_objs]},
        )
    return user


# ---------------------------------------------------------------------------------------------
# the reason-code catalog: codes are retired, never deleted (decisions keep pointing at them)


def reason_code_save(
    *, code: str, label: str, kinds: Sequence[str], is_active: bool = True, actor: Actor
) -> ReasonCode:
    """Create or change one reason code: its label, the decision kinds that may use it and
    whether people can still pick it. Audited with what it was before."""
    if not code or slugify(code) != code:
        raise InvalidInput(
            f"{code!r} is not a usable code: use lowercase letters, digits and dashes.",
            code="invalid_reason_code",
        )
    label = label.strip()
    if not label:
        raise InvalidInput("A reason code needs a label people can read.", code="invalid_label")
    unknown = sorted(set(kinds) - set(DecisionKind.values))
    if unknown or not kinds:
        raise InvalidInput(
            f"Kinds must be some of {', '.join(DecisionKind.values)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            code="invalid_kinds",
            details={"unknown": unknown},
        )
    kinds = [k for k in DecisionKind.values if k in set(kinds)]
    with transaction.atomic(durable=True):
        reason = ReasonCode.objects.select_for_update().filter(code=code).first()
        before = (
            None
            if reason is None
            else {"label": reason.label, "kinds": reason.kinds, "is_active": reason.is_active}
        )
        after = {"label": label[:120], "kinds": kinds, "is_active": is_active}
        if before == after:
            return reason
        reason, _ = ReasonCode.objects.update_or_create(code=code, defaults=after)
        audit_record(
            actor=actor,
            verb=Verb.REASON_CODE_SAVED,
            object_type="reason_code",
            object_id=reason.pk,
            data={"code": code, "before": before, "after": after},
        )
    return reason


def reason_code_set_active(*, code: str, is_active: bool, actor: Actor) -> ReasonCode:
    """Retire a code (people can no longer pick it; past decisions keep it) or bring it back."""
    reason = ReasonCode.objects.filter(code=code).first()
    if reason is None:
        raise NotFound(f"No reason code {code!r}.", code="reason_code_not_found")
    return reason_code_save(
        code=code, label=reason.label, kinds=reason.kinds, is_active=is_active, actor=actor
    )


# ---------------------------------------------------------------------------------------------
# recommendations and drafts: a person adopts, edits or dismisses what an agent proposed; edits of
# pending actions (approve with changes) live here too, as they share the draft's edit

PROPOSED = frozenset({Status.RECOMMENDED, Status.DRAFTED})
# What the policy may still say about a proposal's params that no adoption can override.
_NOT_ADOPTABLE = frozenset({Mode.FORBIDDEN, Mode.READ_ONLY, Mode.ESCALATE})


def _authority_to_execute(action: Action, params: dict[str, Any]) -> PolicyDecision:
    """The active policy asked again about `params`, as if the agent wanted them executed (an
    edit or a newer policy may have raised the stakes); what it forbids, keeps read-only or
    escalates cannot be executed on a person's authority (403 `policy_refuses`)."""
    _, authority = policy_decision(
        agent_name=action.agent.name,
        action_type=action.action_type.key,
        params=params,
        context=action.context,
    )
    if authority.mode in _NOT_ADOPTABLE:
        raise Forbidden(
            f"The policy does not let these params execute: {authority.explanation}",
            code="policy_refuses",
            details={"mode": authority.mode, "rule": authority.rule_name},
        )
    return authority


def _lock_proposed(action_id: Any, *, by, expected_version: int | None) -> Action:
    action = _lock_for(action_id, by)
    _check_expected_version(action, expected_version)
    if action.status not in PROPOSED:
        raise Conflict(
            f"An action that is {action.status} is not a recommendation or a draft.",
            code="not_a_proposal",
            details={"status": action.status},
        )
    return action


def action_edit(
    *,
    action_id: Any,
    by,
    params: dict[str, Any],
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A person changes the params of a draft (before adopting it) or of a pending action
    ("approve with changes"). The agent's `params` stay as they were; `final_params` holds the
    edit, validated against the action type's schema; a reason code of kind `edit` is required.

    A pending action's edit is also asked of the policy again, and is its editor's approval: see
    `_edit_pending`.
    """
    with transaction.atomic(durable=True):
        action = _lock_for(action_id, by)
        _check_expected_version(action, expected_version)
        if action.status not in (Status.DRAFTED, Status.PENDING):
            raise Conflict(
                f"An action that is {action.status} is neither a draft nor pending: it cannot be "
                "edited.",
                code="not_a_draft",
                details={"status": action.status},
            )
        _check_may_decide(action, by)
        reason = _reason_code(reason_code, kind=DecisionKind.EDIT, required=True)
        validate_params(
            action_type_key=action.action_type.key,
            schema=action.action_type.params_schema,
            params=params,
        )
        before = action.effective_params
        previous_queue = action.queue
        data: dict[str, Any] = {
            "before": before, "after": params, "reason_code": reason_code, "note": note,
        }  # fmt: skip
        if action.status == Status.PENDING:
            data["authority"] = _edit_pending(action, by=by, params=params)
        Decision.objects.create(
            action=action,
            kind=DecisionKind.EDIT,
            by=by,
            reason_code=reason,
            note=note,
            action_version=action.version,
        )
        if action.status == Status.PENDING:
            if not action.decisions.filter(kind__in=APPROVAL_KINDS, by=by).exists():
                Decision.objects.create(
                    action=action,
                    kind=DecisionKind.APPROVE,
                    by=by,
                    action_version=action.version,
                )
            data["approvals"], _ = _approval_count(action)
            data["required"] = action.approvals_required
        action.final_params = params
        action.amount = _listing_amount(params.get("amount"))
        action.currency = str(params.get("currency", ""))[:3]
        action.order_ref = str(params.get("order_id", ""))[:64]
        action.version += 1
        action.save()
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.ACTION_EDITED,
            object_type="action",
            object_id=action.pk,
            data=data,
            request_id=request_id,
        )
        _on_commit_push(action, previous_queue=previous_queue)
    return action


def _edit_pending(action: Action, *, by, params: dict[str, Any]) -> dict[str, Any]:
    """Give a pending action the authority its edited params need; that authority, for the audit.

    The policy is asked about the new params as if the agent had sent them. What it forbids, keeps
    read-only or escalates cannot be approved with changes (403 `policy_refuses`, nothing changes).
    Otherwise the action keeps waiting under the stricter of its authority and the new one:
    - approvals: the larger of the current number and the new rule's, at least 1;
    - role and queue: the new rule's when it gates the action: the params now fall under that
      rule, so its role approves them (the editor must hold it too, as an adopter must) and its
      queue holds them (routing follows the params). A rule that would not wait for a person names
      no reviewers, so the action keeps its role and queue;
    - rule, explanation and policy version: the new decision's, so reviewers see what now gates it.
    The edit releases the editor's claim: the next approver is someone else. The caller records
    the edit as its editor's approval too (unless they already approved); `_approval_count` holds
    the four eyes.
    """
    authority = _authority_to_execute(action, params)
    gates = authority.mode == Mode.EXECUTE_GATED
    role = (authority.approver_role if gates else "") or action.approver_role
    if role != action.approver_role:
        _check_may_decide(action, by, role=role)
    required = max(action.approvals_required, authority.approvals_required, 1)
    explanation = authority.explanation
    if not gates or authority.approvals_required < required:
        explanation = f"{explanation}; edited while pending: needs {required} approval(s)"
    action.approvals_required = required
    action.approver_role = role
    if gates:
        action.queue = authority.queue
    action.rule_id = authority.rule_id
    action.rule_name = authority.rule_name
    action.explanation = explanation[:500]
    action.policy_version_id = authority.policy_version_id
    _clear_claim(action)
    return {
        "mode": authority.mode,
        "rule": authority.rule_name,
        "policy_version": authority.policy_version,
        "approvals_required": required,
        "approver_role": role,
        "queue": action.queue,
    }


def action_adopt(
    *,
    action_id: Any,
    by,
    reason_code: str | None = None,
    note: str = "",
    expected_version: int | None = None,
    confirm_irreversible: bool = False,
    request_id: str = "",
) -> Action:
    """A person takes a recommendation or a draft on as their own: it executes on their authority.

    The active policy is asked again about the params that would execute, as if the agent wanted
    them executed, because an edit or a newer policy may have raised the stakes: what it forbids or
    escalates cannot be adopted, the adopter needs the role it names, and when it wants two
    approvals the adoption is the first and the action waits (`pending`) for another person.
    """
    with transaction.atomic(durable=True):
        action = _lock_proposed(action_id, by=by, expected_version=expected_version)
        _check_irreversible_confirmed(action, confirm_irreversible)
        authority = _authority_to_execute(action, action.effective_params)
        role = authority.approver_role or action.approver_role
        _check_may_decide(action, by, role=role)
        reason = _reason_code(reason_code, kind=DecisionKind.ADOPT, required=False)
        Decision.objects.create(
            action=action,
            kind=DecisionKind.ADOPT,
            by=by,
            reason_code=reason,
            note=note,
            action_version=action.version,
        )
        data = {
            "reason_code": reason_code,
            "note": note,
            "params": action.effective_params,
            "authority": {
                "mode": authority.mode,
                "rule": authority.rule_name,
                "policy_version": authority.policy_version,
                "approver_role": role,
                "approvals_required": authority.approvals_required,
            },
        }
        actor = Actor.user(by.pk)
        if authority.mode == Mode.EXECUTE_GATED and authority.approvals_required > 1:
            action.approvals_required = authority.approvals_required
            action.approver_role = role
            _clear_claim(action)  # the second approver is someone else: the adopter's claim goes
            data.update(approvals=1, required=authority.approvals_required)
            _move(action, Status.PENDING, actor=actor, verb=Verb.ACTION_ADOPTED, data=data,
                  request_id=request_id)  # fmt: skip
        else:
            action.decided_at = timezone.now()
            _move(action, Status.APPROVED, actor=actor, verb=Verb.ACTION_ADOPTED, data=data,
                  request_id=request_id)  # fmt: skip
            _on_commit_execute(action)
    return action


def action_dismiss(
    *,
    action_id: Any,
    by,
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A person drops a recommendation or a draft, with a reason code; nothing executes."""
    with transaction.atomic(durable=True):
        action = _lock_proposed(action_id, by=by, expected_version=expected_version)
        _check_may_decide(action, by)
        _close_by_person(
            action, by=by, kind=DecisionKind.DISMISS, status=Status.DISMISSED,
            verb=Verb.ACTION_DISMISSED, reason_code=reason_code, note=note, request_id=request_id,
        )  # fmt: skip
    return action


# ---------------------------------------------------------------------------------------------
# rollback: a person undoes a succeeded action within its type's window; a worker runs the
# executor's compensation (outside any transaction) and records how it ended


class RollbackWindowClosed(Conflict):
    default_code = "rollback_window_closed"


class NotCompensable(Conflict):
    default_code = "not_compensable"


class CompensationRetry(Exception):
    """A compensation failed in a way that may pass (transient): the task tries again later.
    Nothing was recorded; the action stays `rolling_back`."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


def rollback_deadline(action: Action) -> datetime | None:
    """Until when a succeeded action may be rolled back: its type's window after it finished."""
    if action.finished_at is None:
        return None
    return action.finished_at + timedelta(seconds=action.action_type.rollback_window_seconds)


def rollback_refusal(action: Action, *, now: datetime) -> ApplicationError | None:
    """Why a succeeded action cannot be rolled back now (not compensable, window closed), or
    None. The page asks it to choose between the form and a notice; the service raises it."""
    executor = executor_for(action.action_type.key)
    if not executor.compensable:
        return NotCompensable(
            executor.why_not_compensable(action.action_type.key),
            details={"action_type": action.action_type.key},
        )
    deadline = rollback_deadline(action)
    if deadline is None or now > deadline:
        at = deadline.isoformat() if deadline else None
        return RollbackWindowClosed(
            f"The rollback window of {action.action_type.key} closed"
            + (f" at {deadline:%Y-%m-%d %H:%M:%S} UTC." if deadline else "."),
            details={
                "deadline": at,
                "window_seconds": action.action_type.rollback_window_seconds,
            },
        )
    return None


def _enqueue_compensation(action_id: uuid.UUID) -> None:
    try:
        current_app.send_task(COMPENSATE_TASK, kwargs={"action_id": str(action_id)})
    except Exception:
        # The action stays `rolling_back`, visible as such; enqueueing the task again resumes it.
        logger.exception("could not enqueue the compensation of %s", action_id)


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
        action = _lock_for(action_id, by)
        _check_expected_version(action, expected_version)
        check_transition(action.status, Status.ROLLING_BACK)
        _check_may_decide(action, by, role=action.approver_role or Role.SUPERVISOR)
        refusal = rollback_refusal(action, now=timezone.now())
        if refusal is not None:
            raise refusal
        reason = _reason_code(reason_code, kind=DecisionKind.ROLLBACK, required=True)
        Decision.objects.create(
            action=action,
            kind=DecisionKind.ROLLBACK,
            by=by,
            reason_code=reason,
            note=note,
            action_version=action.version,
        )
        _move(
            action, Status.ROLLING_BACK,
            actor=Actor.user(by.pk), verb=Verb.ACTION_ROLLBACK_REQUESTED,
            data={"reason_code": reason_code, "note": note}, request_id=request_id,
        )  # fmt: skip
        action_pk = action.pk
        transaction.on_commit(lambda: _enqueue_compensation(action_pk))
    return action


def action_compensate(*, action_id: Any, final_attempt: bool = True) -> Action | None:
    """Run the compensation of an action that is `rolling_back`; safe to call again: it exits
    when the action is not rolling back (a redelivered task stops here).

    A transient failure raises `CompensationRetry` unless this is the `final_attempt`; any other
    failure (or a transient one on the final attempt) ends the action `rollback_failed`.
    """
    with transaction.atomic(durable=True):
        action = _lock(action_id)
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
        action = _lock(action_id)
        if action.status != Status.ROLLING_BACK:
            return action  # another delivery finished it meanwhile
        if error is None:
            action.result = {**(action.result or {}), "rollback": result}
            _move(action, Status.ROLLED_BACK, actor=Actor.system("worker"),
                  verb=Verb.ACTION_ROLLED_BACK, data={"result": result})  # fmt: skip
        else:
            action.error = {**error, "during": "rollback"}
            _move(action, Status.ROLLBACK_FAILED, actor=Actor.system("worker"),
                  verb=Verb.ACTION_ROLLBACK_FAILED, data={"error": error})  # fmt: skip
    return action


# ---------------------------------------------------------------------------------------------
# batches: a reviewer approves or rejects many low-risk actions at once. Each is its own decision,
# made by the per-action service in its own durable transaction (audit and push included), so one
# refusal stops nothing else and every action's history reads as if it had been decided alone.


@dataclass(frozen=True)
class BatchOutcome:
    action_id: str
    ok: bool
    code: str = ""  # the refusal's code when not ok, e.g. not_batchable, claimed_by_other
    message: str = ""


_BATCH_KINDS = (DecisionKind.APPROVE, DecisionKind.REJECT)
_NOT_BATCHABLE = "Decide this one on its own: batches take pending, unedited, small actions."


def actions_decide_batch(
    *,
    action_ids: Sequence[Any],
    by,
    kind: str,
    reason_code: str | None,
    note: str = "",
    request_id: str = "",
) -> list[BatchOutcome]:
    """Approve or reject each of `action_ids` with one reason code; one outcome per distinct id,
    in the order given. Only batchable actions (see `action_is_batchable`) are decided; each on
    the version read here, so one that changed meanwhile is refused as `stale_version`.
    """
    if kind not in _BATCH_KINDS:
        raise InvalidInput("A batch approves or rejects.", code="invalid_batch_kind")
    ids = list(dict.fromkeys(str(i) for i in action_ids))
    if not ids:
        raise InvalidInput("Select at least one action for the batch.", code="empty_batch")
    most = settings.COUNTERSIGN.get("BATCH_MAX_SIZE", 100)
    if len(ids) > most:
        raise InvalidInput(
            f"A batch holds at most {most} actions; {len(ids)} were selected.",
            code="batch_too_large",
            details={"max": most, "selected": len(ids)},
        )
    # One code for the whole batch: a bad one is refused once, not once per action.
    _reason_code(reason_code, kind=DecisionKind(kind), required=kind == DecisionKind.REJECT)
    valid = {}
    for raw in ids:
        try:
            valid[raw] = parse_action_id(raw)
        except NotFound:
            continue
    read = Action.objects.filter(pk__in=list(valid.values())).order_by("id")
    snapshot = {a.pk: a for a in read}
    queues = user_queue_names(user=by)
    decide = action_approve if kind == DecisionKind.APPROVE else action_reject
    outcomes = []
    for raw in ids:
        action = snapshot.get(valid.get(raw))
        if action is None or (queues is not None and queue_name_of(action) not in queues):
            outcomes.append(BatchOutcome(raw, False, "action_not_found", "No such action."))
            continue
        if not action_is_batchable(action):
            outcomes.append(BatchOutcome(raw, False, "not_batchable", _NOT_BATCHABLE))
            continue
        try:
            decide(
                action_id=action.pk,
                by=by,
                reason_code=reason_code,
                note=note,
                expected_version=action.version,
                request_id=request_id,
            )
        except ApplicationError as exc:
            outcomes.append(BatchOutcome(raw, False, exc.code, exc.message))
        else:
            outcomes.append(BatchOutcome(raw, True))
    return outcomes

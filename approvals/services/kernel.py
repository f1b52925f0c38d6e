"""What every action use case does inside its transaction: lock, check, move, record, and schedule.

A use case locks the row (`lock_for` a person, `lock` for agents and workers), asks the rulebook
(`enforce`), moves the action through the transition table (`move`: the change, its audit event,
the callback row, and the push on commit), and schedules Celery work on commit with ids only.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import current_app
from django.db import transaction

from approvals import callbacks, rulebook
from approvals.models import (
    AWAITING_STATUSES,
    Action,
    Decision,
    DecisionKind,
    ReasonCode,
    Status,
)
from approvals.realtime import publish
from approvals.selectors import parse_action_id
from approvals.transitions import check_transition
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from config.redaction import marked_values, mask_by_schema, mask_values
from execution import executor_for
from policies.money import money_in

logger = logging.getLogger(__name__)

EXECUTE_TASK = "approvals.tasks.execute_action"
COMPENSATE_TASK = "approvals.tasks.compensate_action"


class StaleVersion(Conflict):
    default_code = Code.STALE_VERSION


# ---------------------------------------------------------------------------------------------
# on-commit side effects: ids only, after the transaction that made the change is durable


def push_on_commit(
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
    if created:
        # A new action's row is rendered by each server process's feed, once per process
        # (`consumers._fill_in_row`), not in the request that submitted it: submitting is the
        # API's hottest path, and the row needs reads (its order, its policy version) it has not.
        transaction.on_commit(lambda: publish.publish_action_changed(payload))
        return
    transaction.on_commit(
        lambda: publish.publish_action_changed(payload, action=action, created=created)
    )


def _send(task: str, action_id: uuid.UUID, countdown: float | None = None) -> None:
    try:
        options = {"countdown": countdown} if countdown else {}
        current_app.send_task(task, kwargs={"action_id": str(action_id)}, **options)
    except Exception:
        # The broker is down: the action keeps its status (approved, rolling back) and the
        # sweeper enqueues it again.
        logger.exception("could not enqueue %s for %s; the sweeper will retry", task, action_id)


def execute_on_commit(action: Action, countdown: float | None = None) -> None:
    action_id = action.pk
    transaction.on_commit(lambda: _send(EXECUTE_TASK, action_id, countdown))


def compensate_on_commit(action: Action) -> None:
    action_id = action.pk
    transaction.on_commit(lambda: _send(COMPENSATE_TASK, action_id))


# ---------------------------------------------------------------------------------------------
# inside a service's transaction


def lock(action_id: Any) -> Action:
    try:
        return (
            Action.objects.select_for_update(of=("self",))
            .select_related("agent", "action_type")
            .get(pk=parse_action_id(action_id))
        )
    except Action.DoesNotExist as exc:
        raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND) from exc


def lock_for(action_id: Any, by) -> tuple[Action, rulebook.Person]:
    """Lock an action a person is about to act on, with who they are to the rulebook. One
    outside their queues is as unknown to them as a missing one (404 `action_not_found`), for
    writes as for reads: a refusal must not tell them the action exists, nor its status."""
    action = lock(action_id)
    person = rulebook.person_of(by)
    rulebook.enforce(rulebook.may_see(person, rulebook.facts_of(action)))
    return action, person


def lock_to_decide(
    action_id: Any, *, by, expected_version: int | None, question, **kwargs
) -> tuple[Action, rulebook.Person]:
    """Lock an action a person acts on as it stood when they read it (`expected_version`), once
    the rulebook's `question` allows it."""
    action, person = lock_for(action_id, by)
    check_expected_version(action, expected_version)
    enforce(person, action, question, **kwargs)
    return action, person


def enforce(person: rulebook.Person, action: Action, question, **kwargs) -> None:
    """Ask the rulebook `question` about `person` and the locked `action` (with its history);
    raise its refusal."""
    rulebook.enforce(question(person, rulebook.facts_of(action, history=True), **kwargs))


def move(action: Action, target: Status, *, actor: Actor, verb: Verb, data=None, request_id=""):
    before = action.status
    check_transition(before, target)
    action.status = target
    if target not in AWAITING_STATUSES:
        clear_claim(action)  # nobody reviews what no longer waits for a person
    action.version += 1
    action.save()
    audit_record(
        actor=actor,
        verb=verb,
        object_type="action",
        object_id=action.pk,
        data=on_record(action, {"from": before, "to": str(target), **(data or {})}),
        request_id=request_id,
    )
    push_on_commit(action, previous_status=before)
    callbacks.schedule(action, event=target, data=data)  # in this transaction: never lost


def save_and_record(action: Action, *, actor: Actor, verb: Verb, data=None, request_id="") -> None:
    """A change that leaves the status as it is (an approval short of enough, an edit, a retry
    scheduled): a new version, its audit event, and the push."""
    action.version += 1
    action.save()
    audit_record(
        actor=actor, verb=verb, object_type="action", object_id=action.pk,
        data=on_record(action, data or {}), request_id=request_id,
    )  # fmt: skip
    push_on_commit(action)


# The reason codes Countersign gives itself. Migration 0010 creates them; they are made again when
# missing (a catalog emptied by hand, a flushed test database), so the system never fails for it.
SLA_TIMEOUT_CODE = "sla-timeout"
RETURNED_CODE = "returned-to-agent"
SYSTEM_REASON_CODES = {
    SLA_TIMEOUT_CODE: ("Nobody decided within the SLA", ["timeout"]),
    RETURNED_CODE: ("Returned to the agent with guidance", ["return"]),
}


def system_reason_code(code: str) -> ReasonCode:
    label, kinds = SYSTEM_REASON_CODES[code]
    reason, _ = ReasonCode.objects.get_or_create(
        code=code, defaults={"label": label, "kinds": kinds}
    )
    return reason


def reason_code_for(code: str | None, *, kind: DecisionKind, required: bool) -> ReasonCode | None:
    if not code:
        if required:
            raise InvalidInput(
                f"A reason code is required to {kind.value}.", code=Code.REASON_CODE_REQUIRED
            )
        return None
    reason = ReasonCode.objects.filter(code=code, is_active=True).first()
    if reason is None or not reason.fits(kind):
        raise InvalidInput(
            f"{code!r} is not a reason code for {kind.value}.",
            code=Code.UNKNOWN_REASON_CODE,
            details={"reason_code": code, "kind": kind.value},
        )
    return reason


def record_decision(
    action: Action, *, by, kind: DecisionKind, reason: ReasonCode | None = None, note: str = ""
) -> Decision:
    """One decision on `action` as it stands now: bound to its version and to the hash of the
    params that would execute (so an edit sets `final_params` before it records itself)."""
    opened_at = action.claimed_at if by is not None and action.claimed_by_id == by.pk else None
    return Decision.objects.create(
        action=action, kind=kind, by=by, reason_code=reason, note=note,
        action_version=action.version, params_hash=action.effective_params_hash,
        opened_at=opened_at,
    )  # fmt: skip


def check_expected_version(action: Action, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != action.version:
        raise StaleVersion(
            "This action changed since you loaded it; review the fresh state and decide again.",
            details={"current_version": action.version, "status": action.status},
        )


def clear_claim(action: Action) -> None:
    action.claimed_by = None
    action.claimed_at = None
    action.claim_expires_at = None


def escalation_tier_of(action: Action) -> str:
    """The escalation tier the action's rule names ("" for the default tier)."""
    return action.rule.escalation_tier if action.rule_id else ""


def params_on_record(action: Action, params: Any) -> Any:
    """`params` as audit events and callbacks keep them: what the action type's schema marks
    `x-sensitive` masked. The action's row keeps them whole: its executor needs them."""
    return mask_by_schema(action.action_type.params_schema, params)


def on_record(action: Action, data: Any, *params: Any) -> Any:
    """An audit event's `data` with the values the action type marks `x-sensitive` in its params
    (and in `params`, e.g. the ones an edit replaced) masked wherever they appear: an executor's
    result echoing them, a note quoting them."""
    schema = action.action_type.params_schema
    return mask_values(data, marked_values(schema, action.params, action.final_params, *params))


def set_listing_fields(action: Action, params: dict[str, Any]) -> None:
    """The columns the queue lists, sorts and searches by, from validated params."""
    action.amount, action.currency = money_in(params)
    action.order_ref = str(params.get("order_id", ""))[:64]


def approval_count(action: Action) -> tuple[int, bool]:
    """How many people approved the params that would execute now, and whether fresh eyes did.

    An approval counts once per person, and only for the exact params it saw: its `params_hash`
    must be the hash of the action's effective params, and it must come after the latest edit.
    Editing is approving with changes, so the latest edit counts as its editor's approval when
    they approved the action at all. And an edited action also needs an approval, given after
    the latest edit, from someone who edited none of it: nobody gets an action approved on edits
    of their own alone. Without edits the second condition holds.
    """
    return _approval_count(action, _approvals_and_edits(action))


def _approvals_and_edits(action: Action) -> list[Decision]:
    return list(
        action.decisions.filter(kind__in=[*rulebook.APPROVAL_KINDS, DecisionKind.EDIT]).order_by(
            "created_at", "id"
        )
    )


def _approval_count(action: Action, decisions: list[Decision]) -> tuple[int, bool]:
    current = action.effective_params_hash
    edits = [d for d in decisions if d.kind == DecisionKind.EDIT]
    approvals = [d for d in decisions if d.kind in rulebook.APPROVAL_KINDS]
    latest = edits[-1] if edits else None
    counted = {
        d.by_id
        for d in approvals
        if d.params_hash == current and (latest is None or d.action_version > latest.action_version)
    }
    if latest is None:
        return len(counted), True
    if latest.params_hash == current and any(d.by_id == latest.by_id for d in approvals):
        counted.add(latest.by_id)
    return len(counted), bool(counted - {d.by_id for d in edits})


def unapproved_params_reason(action: Action) -> str:
    """Why the params about to execute lack the approvals they need; "" when they have them.

    An action the policy let execute at submission runs the agent's params, which nobody edits.
    Any other needs as many approvals bound to the hash of its effective params as it required
    (at least one): params changed after the approvals (by a write that bypassed the services)
    hold none of them.
    """
    # One read of the decisions answers both questions: it runs before every execution.
    decisions = _approvals_and_edits(action)
    if action.approvals_required == 0 and not decisions:
        if action.final_params is None:
            return ""
        return "its params were changed, and nobody approved the change"
    approvals, _ = _approval_count(action, decisions)
    needed = max(action.approvals_required, 1)
    if approvals < needed:
        return (
            f"{approvals} of the {needed} approval(s) it needs were given for the params about "
            "to execute: they changed after they were approved"
        )
    return ""


def check_irreversible_confirmed(action: Action, confirmed: bool) -> None:
    """An action nothing can undo executes only once its approver said they know that."""
    executor = executor_for(action.action_type.key)
    if not executor.compensable and not confirmed:
        raise InvalidInput(
            f"{action.action_type.name} cannot be undone once it executes: "
            f"{executor.why_not_compensable(action.action_type.key)} Confirm that you know this "
            "to approve it.",
            code=Code.CONFIRMATION_REQUIRED,
            details={"action_type": action.action_type.key, "confirm": "confirm_irreversible"},
        )


def close_by_person(
    action: Action, *, by, kind: DecisionKind, status: Status, verb: Verb,
    reason_code: str | None, note: str, request_id: str,
) -> None:  # fmt: skip
    """A person ends an action without executing it: the decision row, its reason, the move."""
    reason = reason_code_for(reason_code, kind=kind, required=True)
    record_decision(action, by=by, kind=kind, reason=reason, note=note)
    action.decided_at = clock.now()
    move(
        action, status,
        actor=Actor.user(by.pk), verb=verb,
        data={"reason_code": reason_code, "note": note}, request_id=request_id,
    )  # fmt: skip

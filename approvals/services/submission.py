"""Submitting an action: the active policy decides it, and it is recorded with that decision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from agents.models import Agent
from approvals import handoff
from approvals.breakers import breaker_apply, breaker_open_trips_of
from approvals.models import AWAITING_STATUSES, Action, Priority, Queue, Status
from approvals.selectors import policy_decision
from approvals.services.kernel import (
    execute_on_commit,
    params_on_record,
    push_on_commit,
    set_listing_fields,
)
from approvals.transitions import check_transition
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import ApplicationError, Code
from notifications.events import Event
from notifications.services import notify
from policies.engine import Decision as PolicyDecision
from policies.engine import compiled_policy_of
from policies.models import Mode
from policies.money import format_money

# The share of an SLA after which the queue's subscribers hear that time is running out.
SLA_WARN_SHARE = 0.8

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
    default_code = Code.IDEMPOTENCY_KEY_REUSED


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
    # No lookup of the key first: a new key (the usual case) costs nothing more, and a reused one
    # fails the insert on the unique constraint, whose rolled-back transaction took the breaker
    # counts and the audit event with it; then the stored action answers, as for a concurrent
    # request with the same key.
    try:
        action_type_obj, decision = policy_decision(
            agent_name=agent.name,
            action_type=action_type,
            params=params,
            context=context,
            intent=intent,
            listeners_of=Event.ACTION_PENDING,
        )
    except ApplicationError:
        # Refused before anything was written (an unknown type, params against its schema): a
        # retry is still answered by its first result, and a reused key with another body 409.
        if replay := _replay(agent=agent, key=idempotency_key, request_hash=request_hash):
            return replay
        raise
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
        # The key was used before, or a concurrent request with it won the insert: answer as its
        # replay (or refuse a different body).
        if replay := _replay(agent=agent, key=idempotency_key, request_hash=request_hash):
            return replay
        raise
    return SubmitResult(action=action, replayed=False)


def _replay(*, agent: Agent, key: str | None, request_hash: str) -> SubmitResult | None:
    """The first result of a retry with this key (None without a key, or if it was never used);
    refuses a key reused with another body."""
    if not key:
        return None
    existing = Action.objects.filter(agent=agent, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            details={"action_id": str(existing.pk)},
        )
    return SubmitResult(action=existing, replayed=True)


def _priority(context: dict[str, Any], *, cap: str) -> Priority:
    """How urgent an action is: the policy says it (its rule's `priority`, `cap`). The agent may
    hint one (`context.priority`: low, normal, high or urgent), kept only up to the rule's, so an
    agent cannot push its own actions ahead of others in the queue; without a hint, the rule's.
    It only orders the queue: it never changes a decision."""
    by_label = {p.label.lower(): p for p in Priority}
    ceiling = by_label.get(cap, Priority.NORMAL)
    stated = context.get("priority")
    hinted = by_label.get(stated.lower()) if isinstance(stated, str) else None
    return ceiling if hinted is None else min(hinted, ceiling)


def _sla_times(now, decision: PolicyDecision, status: Status):
    """When a person should have decided, and when the queue is told that time is running out
    (at 80 % of the SLA); None for actions that do not wait for a person."""
    if status not in AWAITING_STATUSES:
        return None, None
    seconds = decision.sla_seconds or settings.COUNTERSIGN["DEFAULT_SLA_SECONDS"]
    return now + timedelta(seconds=seconds), now + timedelta(seconds=seconds * SLA_WARN_SHARE)


def _create_decided_action(
    *, agent, action_type, params, context, intent, callback_url, idempotency_key, request_hash,
    decision: PolicyDecision, request_id,
) -> Action:  # fmt: skip
    # Inside the transaction, before the insert: a breaker's counter lock is held until commit.
    policy = decision
    decision = breaker_apply(agent=agent, action_type=action_type, params=params, decision=decision)
    target = MODE_STATUS[Mode(decision.mode)]
    check_transition(Status.SUBMITTED, target)
    now = clock.now()
    sla_due_at, sla_warn_at = _sla_times(now, decision, target)
    action = Action(
        agent=agent,
        action_type=action_type,
        status=target,
        params=params,
        context=context,
        intent=intent,
        callback_url=callback_url or "",
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
        priority=_priority(context, cap=decision.priority),
        sla_due_at=sla_due_at,
        sla_warn_at=sla_warn_at if target == Status.PENDING else None,
        decided_at=now if target != Status.PENDING else None,
    )
    set_listing_fields(action, params)
    if policy.policy_version_id is not None:
        # The version that decided, as compiled in this process: the response reads its number.
        action.policy_version = compiled_policy_of(policy.policy_version_id).version
    action.save(force_insert=True)
    audit_record(
        actor=Actor.agent(agent.pk),
        verb=Verb.ACTION_SUBMITTED,
        object_type="action",
        object_id=action.pk,
        data={
            "action_type": action_type.key,
            "params": params_on_record(action, params),
            # What the agent said about the request, as it said it (redacted like everything).
            "context": context,
            "status": target,
            "decision": decision.as_dict(),
        },
        request_id=request_id,
    )
    if target == Status.ESCALATED:
        handoff.desk().open_case(
            action=action,
            source=handoff.Source.POLICY,
            tier=decision.escalation_tier,
            reason=decision.explanation,
            actor=Actor.system("policy"),
            request_id=request_id,
        )
    if decision is not policy:
        _link_to_trip_cases(action, agent=agent, request_id=request_id)
    # `listened`: whether anyone subscribed to pending actions, read with the action type.
    if target == Status.PENDING and getattr(action_type, "listened", True):
        _tell_pending(action)
    push_on_commit(action, previous_status=Status.SUBMITTED, created=True)
    if target == Status.APPROVED:
        execute_on_commit(action)
    return action


def _link_to_trip_cases(action: Action, *, agent: Agent, request_id: str) -> None:
    """A breaker held the action: the trip's one case (opened by its first held action) links it,
    so a person looks at the burst as a whole while each action waits in the queue."""
    for trip_id, explanation in breaker_open_trips_of(agent):
        handoff.desk().open_case(
            source=handoff.Source.BREAKER,
            reason=explanation,
            actor=Actor.system("breaker"),
            agent_id=agent.pk,
            linked_action_ids=[action.pk],
            origin_key=f"breaker-trip:{trip_id}",
            summary={
                "what_agent_did": explanation,
                "what_agent_proposes": "More actions like these: each is held for a person",
            },
            request_id=request_id,
        )


def _tell_pending(action: Action) -> int:
    """Tell the queue's subscribers that the action waits for them (written in this transaction,
    sent on commit; one query when nobody listens). What they read comes from validated params and
    the policy (type, amount, order, queue, rule), never from the agent's own words."""
    name = action.action_type.name
    queue = action.queue or Queue.DEFAULT_NAME
    money = format_money(action.amount, action.currency)
    what = f"{name} of {money}" if money else name
    on_order = f" on order {action.order_ref}" if action.order_ref else ""
    needs = action.approvals_required
    text = (
        f"{what}{on_order}, requested by {action.agent.name}, waits for "
        f"{needs} approval{'s' if needs != 1 else ''} in {queue}. "
        f"Rule: {action.rule_name or 'the action type default'}."
    )
    return notify(
        event=Event.ACTION_PENDING,
        subject=f"Pending approval: {what}{on_order}",
        text=text,
        path=f"/actions/{action.pk}/",
        queue=queue,
        amount=action.amount,
        currency=action.currency,
        action_id=str(action.pk),
        action_version=action.version,
        buttons=True,
    )

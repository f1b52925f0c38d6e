"""Signed callbacks: telling an agent, at its `callback_url`, what became of its action.

`schedule` runs inside the transaction that changes the action's status (it is called from the
services' one status-change helper), so the delivery row commits with the change or not at all; the
Celery task is enqueued on commit. `callback_deliver` makes one attempt outside any transaction and
says when to try again; after `CALLBACK_MAX_ATTEMPTS` the delivery is `failed` and audited. A beat
sweep enqueues again deliveries whose task was lost (broker down at commit, worker killed).

Every request is signed like the HTTP connector's (see `config.outbound.verify_signature`) with a
key per agent, derived from `CALLBACK_SIGNING_SECRET` (see `agent_signing_secret`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

from approvals.models import Action, CallbackDelivery
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.outbound import (
    OutboundUrlRefused,
    backoff_delay,
    derived_key,
    outbound_target,
    outbound_url_check,
    post_signed,
    where,
)
from config.redaction import marked_values, mask_by_schema, mask_values, redact

logger = logging.getLogger(__name__)

DELIVER_TASK = "approvals.tasks.deliver_callback"

# The status changes an agent is told about: decisions, outcomes of execution and of rollback.
# Not `cancelled` (only the agent itself cancels) nor `executing` (an outcome follows).
DECISION_EVENTS = frozenset({"approved", "rejected", "escalated", "expired", "dismissed"})
RESULT_EVENTS = frozenset({"succeeded", "rolled_back"})
ERROR_EVENTS = frozenset({"failed", "needs_reconciliation", "rollback_failed"})
EVENTS = DECISION_EVENTS | RESULT_EVENTS | ERROR_EVENTS | {"rolling_back"}

# A task that arrives this much before its delivery is due is a duplicate: the due one sends it.
_EARLY_SLACK = timedelta(seconds=1)
# How long an attempt may be in flight before the sweeper counts it as lost, beyond its timeout.
_IN_FLIGHT_GRACE = timedelta(seconds=30)


# The URL check and its refusal are shared with notification webhooks (`config.outbound`); these
# are the names the API's serializer and approvals' callers know them by.
CallbackUrlRefused = OutboundUrlRefused
callback_url_check = outbound_url_check


def _setting(name: str) -> Any:
    return settings.COUNTERSIGN[name]


def agent_signing_secret(agent_id: Any) -> str:
    """The key callbacks to one agent are signed with, derived from the deployment's
    `CALLBACK_SIGNING_SECRET` (or `SECRET_KEY`) and the agent's id (see `derived_key`).

    One agent's key does not let its operator forge callbacks to another agent.
    `manage.py callback_secret <agent>` prints it for the agent's operator.
    """
    return derived_key(f"countersign.callback.v1:{agent_id}")


# ---------------------------------------------------------------------------------------------
# scheduling, inside the status change's transaction


def _enqueue(delivery_id: int) -> None:
    try:
        current_app.send_task(DELIVER_TASK, kwargs={"delivery_id": delivery_id})
    except Exception:
        # The broker is down: the row stays pending and the sweeper enqueues it again.
        logger.exception("could not enqueue callback %s; the sweeper will retry", delivery_id)


def _payload(action: Action, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the agent is told, as it is kept (the delivery row) and sent: the params the action
    type marks `x-sensitive` masked, and card numbers, emails and phones in any text; the agent
    reads the action itself (`GET /api/v1/actions/{id}/`) for the params whole."""
    schema = action.action_type.params_schema
    payload: dict[str, Any] = {
        "event": event,
        "action_id": str(action.pk),
        "action_type": action.action_type.key,
        "status": action.status,
        "version": action.version,
        "occurred_at": (action.updated_at or clock.now()).isoformat(),
    }
    if event in DECISION_EVENTS:
        payload["decision"] = {
            "reason_code": data.get("reason_code") or None,
            "edited": action.final_params is not None,
            "params": mask_by_schema(schema, action.effective_params),
        }
    if event in RESULT_EVENTS:
        payload["result"] = data.get("result", action.result)
    if event in ERROR_EVENTS:
        payload["error"] = data.get("error", action.error)
    return mask_values(redact(payload), marked_values(schema, action.params, action.final_params))


def schedule(action: Action, *, event: str, data: dict[str, Any] | None = None):
    """Record the callback of `event` for `action`, if it has a callback URL and the agent is told
    about this event; its delivery is enqueued when the caller's transaction commits."""
    event = str(event)
    if not action.callback_url or event not in EVENTS:
        return None
    delivery = CallbackDelivery.objects.create(
        action=action,
        event=event,
        payload=_payload(action, event, data or {}),
        next_attempt_at=clock.now(),
    )
    delivery_id = delivery.pk
    transaction.on_commit(lambda: _enqueue(delivery_id))
    return delivery


# ---------------------------------------------------------------------------------------------
# delivering, outside any transaction


def _lock(delivery_id: Any) -> CallbackDelivery | None:
    return (
        CallbackDelivery.objects.select_for_update(of=("self",))
        .select_related("action")
        .filter(pk=delivery_id)
        .first()
    )


def callback_deliver(*, delivery_id: Any) -> float | None:
    """Make one attempt to deliver a callback. Seconds until the next attempt when this one failed
    and another is allowed; None when it was delivered, failed for good, or is not due."""
    now = clock.now()
    with transaction.atomic(durable=True):
        delivery = _lock(delivery_id)
        if delivery is None or delivery.status != CallbackDelivery.State.PENDING:
            return None
        if delivery.next_attempt_at > now + _EARLY_SLACK:
            return None  # in flight elsewhere, or a duplicate ahead of its time
        delivery.attempts += 1
        in_flight = timedelta(seconds=_setting("CALLBACK_TIMEOUT_SECONDS")) + _IN_FLIGHT_GRACE
        delivery.next_attempt_at = now + in_flight
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        url, agent_id = delivery.action.callback_url, delivery.action.agent_id
        event, payload, attempt = delivery.event, delivery.payload, delivery.attempts

    permanent = False
    try:
        # Resolved and checked once: the POST connects to exactly the address checked here.
        target = outbound_target(url)
    except CallbackUrlRefused as exc:
        error, permanent = exc.message, True
    except OSError as exc:
        error = str(exc)  # a resolver hiccup: worth another try
    else:
        error = post_signed(
            target, secret=agent_signing_secret(agent_id), delivery_id=delivery_id, event=event,
            payload=payload, timeout=_setting("CALLBACK_TIMEOUT_SECONDS"),
        )  # fmt: skip

    with transaction.atomic(durable=True):
        delivery = _lock(delivery_id)
        if delivery is None or delivery.status != CallbackDelivery.State.PENDING:
            return None
        finished = clock.now()
        if error is None:
            delivery.status = CallbackDelivery.State.DELIVERED
            delivery.delivered_at = finished
            delivery.last_error = ""
            delivery.save(update_fields=["status", "delivered_at", "last_error"])
            return None
        delivery.last_error = error[:500]
        if permanent or attempt >= _setting("CALLBACK_MAX_ATTEMPTS"):
            delivery.status = CallbackDelivery.State.FAILED
            delivery.save(update_fields=["status", "last_error"])
            audit_record(
                actor=Actor.system("callbacks"),
                verb=Verb.CALLBACK_FAILED,
                object_type="action",
                object_id=delivery.action_id,
                data={
                    "event": event,
                    "delivery_id": delivery.pk,
                    "attempts": attempt,
                    "url": where(url),
                    "error": delivery.last_error,
                },
            )
            logger.warning("callback %s (%s) failed for good: %s", delivery.pk, event, error)
            return None
        delay = backoff_delay(
            attempt,
            base=_setting("CALLBACK_BACKOFF_SECONDS"),
            cap=_setting("CALLBACK_BACKOFF_MAX_SECONDS"),
        )
        delivery.next_attempt_at = finished + timedelta(seconds=delay)
        delivery.save(update_fields=["next_attempt_at", "last_error"])
        return delay


def callbacks_requeue_due(*, grace_seconds: float, limit: int = 500) -> int:
    """Enqueue again pending deliveries overdue by more than `grace_seconds`: their task was lost
    (broker down at commit, a worker killed mid-attempt). Beat runs it; duplicates are harmless,
    as an attempt claims its row first."""
    now = clock.now()
    with transaction.atomic(durable=True):
        due = list(
            CallbackDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                status=CallbackDelivery.State.PENDING,
                next_attempt_at__lt=now - timedelta(seconds=grace_seconds),
            )
            .order_by("next_attempt_at", "id")[:limit]
        )
        for delivery in due:
            delivery.next_attempt_at = now  # out of the next sweep's window
            delivery.save(update_fields=["next_attempt_at"])
        ids = [d.pk for d in due]
        transaction.on_commit(lambda: [_enqueue(i) for i in ids])
    return len(ids)

"""The sweepers (beat): claims and SLAs that ran out, and work that never started or was lost."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from approvals import handoff
from approvals.models import AWAITING_STATUSES, Action, DecisionKind, Queue, Status
from approvals.services.claims import CLAIM_FIELDS
from approvals.services.kernel import (
    SLA_TIMEOUT_CODE,
    clear_claim,
    compensate_on_commit,
    escalation_tier_of,
    execute_on_commit,
    move,
    push_on_commit,
    record_decision,
    system_reason_code,
)
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from notifications.events import Event
from notifications.services import notify
from policies.models import OnTimeout
from policies.money import params_money_text


def actions_release_expired_claims(*, limit: int = 500) -> int:
    """Clear claims that ran out, so every dashboard shows the action free again (beat)."""
    now = clock.now()
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
            clear_claim(action)
            action.save(update_fields=CLAIM_FIELDS)
            audit_record(
                actor=Actor.system("sweeper"),
                verb=Verb.ACTION_RELEASED,
                object_type="action",
                object_id=action.pk,
                data={"expired": True, "claimed_by": holder},
            )
            push_on_commit(action)
    return len(expired)


def actions_requeue_stalled(*, older_than_seconds: float, limit: int = 500) -> int:
    """The sweeper (beat): enqueue again what nothing happened to for `older_than_seconds`:
    approved actions no worker started (broker down at commit, a crash between commit and enqueue,
    a lost message), and executing ones whose lease ran out (their worker died; the task takes
    over as the next attempt, or fails the action when its attempts are used up).

    Idempotent: an enqueue too many finds nothing to do. Rows another sweeper or a worker holds
    are skipped, and each swept action is touched, so the next sweep leaves it alone for a while.
    """
    now = clock.now()
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
            execute_on_commit(action)
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
            compensate_on_commit(action)
    return len(actions)


def actions_enforce_sla(*, limit: int = 500) -> dict[str, int]:
    """Fail closed (beat, and `manage.py sla_sweep`): every action still waiting for a person past
    its `sla_due_at` moves as its rule's `on_timeout` says, and never executes:
    - `expire` (also when no rule names one): `expired`;
    - `reject`: `rejected` by the system, reason code `sla-timeout`;
    - `escalate`: `escalated`, with a case in the rule's tier.
    The agent hears it through `wait/` and its callback, like any outcome. Actions whose SLA is 80 %
    gone are told to their queue's subscribers once. Idempotent and catching up: a sweep after
    hours of downtime moves everything that came due, once (a moved action no longer waits).
    """
    now = clock.now()
    counts = {"expired": 0, "rejected": 0, "escalated": 0, "warned": 0}
    with transaction.atomic(durable=True):
        due = list(
            Action.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("rule", "action_type", "agent")
            .filter(status=Status.PENDING, sla_due_at__lte=now)
            .order_by("sla_due_at", "id")[:limit]
        )
        for action in due:
            counts[_time_out(action, now=now)] += 1
        warned = list(
            Action.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("action_type")
            .filter(status=Status.PENDING, sla_warn_at__lte=now)
            .order_by("sla_warn_at", "id")[:limit]
        )
        for action in warned:
            action.sla_warn_at = None
            action.save(update_fields=["sla_warn_at"])
            tell_queue(action, Event.SLA_WARNING, subject="SLA at 80 %")
        counts["warned"] = len(warned)
    return counts


def _time_out(action: Action, *, now) -> str:
    on_timeout = action.rule.on_timeout if action.rule_id else OnTimeout.EXPIRE
    actor = Actor.system("sla")
    data = {"sla_due_at": action.sla_due_at.isoformat(), "on_timeout": on_timeout}
    action.decided_at = now
    action.sla_warn_at = None
    tell_queue(action, Event.SLA_BREACHED, subject="SLA breached")
    if on_timeout == OnTimeout.REJECT:
        reason = system_reason_code(SLA_TIMEOUT_CODE)
        record_decision(action, by=None, kind=DecisionKind.REJECT, reason=reason,
                        note="Nobody decided within the SLA.")  # fmt: skip
        move(action, Status.REJECTED, actor=actor, verb=Verb.ACTION_REJECTED,
             data={**data, "reason_code": SLA_TIMEOUT_CODE})  # fmt: skip
        return "rejected"
    if on_timeout == OnTimeout.ESCALATE:
        move(action, Status.ESCALATED, actor=actor, verb=Verb.ACTION_ESCALATED, data=data)
        handoff.desk().open_case(
            action=action,
            source=handoff.Source.TIMEOUT,
            reason=f"Nobody decided within the SLA (due {action.sla_due_at:%Y-%m-%d %H:%M} UTC)",
            actor=actor,
            tier=escalation_tier_of(action),
        )
        return "escalated"
    move(action, Status.EXPIRED, actor=actor, verb=Verb.ACTION_EXPIRED, data=data)
    return "expired"


def tell_queue(action: Action, event: Event, *, subject: str) -> int:
    """Tell the subscribers of the action's queue (written now, sent on commit)."""
    money = params_money_text(action.effective_params)
    what = f"{action.action_type.name}" + (f" of {money}" if money else "")
    return notify(
        event=event,
        subject=f"{subject}: {what}",
        text=f"{what} ({action.action_type.key}) {action.explanation}",
        path=f"/actions/{action.pk}/",
        queue=action.queue or Queue.DEFAULT_NAME,
        amount=action.amount,
        currency=action.currency,
        action_id=str(action.pk),
    )

"""The sweepers (beat): claims that ran out, and work that never started or was lost."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from approvals.models import AWAITING_STATUSES, Action, Status
from approvals.services.claims import CLAIM_FIELDS
from approvals.services.kernel import (
    clear_claim,
    compensate_on_commit,
    execute_on_commit,
    push_on_commit,
)
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock


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

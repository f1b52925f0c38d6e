"""Celery tasks: load by id, call one service."""

from celery import shared_task
from django.conf import settings

from approvals import callbacks, services


@shared_task(name="approvals.tasks.execute_action", acks_late=True, bind=True)
def execute_action(self, *, action_id: str) -> None:
    # Delivered at least once: the service runs an attempt only if the action's lease allows one.
    services.action_execute(action_id=action_id, task_id=self.request.id or "")


@shared_task(name="approvals.tasks.sweep_stalled_actions")
def sweep_stalled_actions() -> int:
    return services.actions_requeue_stalled(
        older_than_seconds=settings.COUNTERSIGN["STALL_AFTER_SECONDS"]
    )


@shared_task(name="approvals.tasks.release_expired_claims")
def release_expired_claims() -> int:
    return services.actions_release_expired_claims()


@shared_task(bind=True, name="approvals.tasks.deliver_callback", acks_late=True, max_retries=None)
def deliver_callback(self, *, delivery_id: int) -> None:
    # The service bounds the attempts (CALLBACK_MAX_ATTEMPTS) and says when the next one is due.
    retry_in = callbacks.callback_deliver(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="approvals.tasks.sweep_callbacks")
def sweep_callbacks() -> int:
    return callbacks.callbacks_requeue_due(
        grace_seconds=settings.COUNTERSIGN["CALLBACK_SWEEP_GRACE_SECONDS"]
    )


# A transient compensation failure is tried again after 2, 4, 8, 16 s: five tries in all, then
# the action is `rollback_failed` with the last error.
COMPENSATE_TRIES = 5
COMPENSATE_BACKOFF_SECONDS = 2


@shared_task(
    name="approvals.tasks.compensate_action",
    bind=True,
    acks_late=True,
    max_retries=COMPENSATE_TRIES - 1,
)
def compensate_action(self, *, action_id: str) -> None:
    try:
        services.action_compensate(
            action_id=action_id, final_attempt=self.request.retries >= self.max_retries
        )
    except services.CompensationRetry as exc:
        countdown = COMPENSATE_BACKOFF_SECONDS * 2**self.request.retries
        raise self.retry(countdown=countdown, exc=exc) from exc

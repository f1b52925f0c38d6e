"""Celery tasks: load by id, call one service."""

from celery import shared_task
from django.conf import settings

from approvals import services


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

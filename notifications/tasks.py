"""Celery tasks: load by id, call one service."""

from celery import shared_task
from django.conf import settings

from notifications import sending, services


@shared_task(bind=True, name="notifications.tasks.send_delivery", acks_late=True, max_retries=None)
def send_delivery(self, *, delivery_id: int) -> None:
    # The service bounds the attempts (NOTIFY_MAX_ATTEMPTS) and says when the next one is due.
    retry_in = sending.delivery_send(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="notifications.tasks.sweep_deliveries")
def sweep_deliveries() -> int:
    return services.deliveries_requeue_due(
        grace_seconds=settings.COUNTERSIGN["NOTIFY_SWEEP_GRACE_SECONDS"]
    )


@shared_task(name="notifications.tasks.send_digests")
def send_digests() -> int:
    return services.digests_gather()

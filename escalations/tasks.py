"""Celery tasks of the escalations app: thin, idempotent, one service call each."""

from celery import shared_task

from escalations.services import slas_sweep


@shared_task(name="escalations.tasks.sweep_slas", ignore_result=True)
def sweep_slas() -> dict[str, int]:
    return slas_sweep()

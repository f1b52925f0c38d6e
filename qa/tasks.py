"""Celery tasks of the QA app: thin, idempotent, one service call each."""

from celery import shared_task

from config import clock
from qa.services.sampling import samples_draw_due


@shared_task(name="qa.tasks.draw_samples", ignore_result=True)
def draw_samples() -> int:
    """Draw every sampling period that came due (the beat); returns how many samples it drew."""
    return len(samples_draw_due(now=clock.now()).drawn)

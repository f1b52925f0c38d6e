"""The Celery app, and how its worker processes keep their database connections between tasks."""

import os

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from celery.signals import after_setup_logger, after_setup_task_logger
from django.db import close_old_connections

from config.redaction import RedactingFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class _WorkerFixup(DjangoWorkerFixup):
    """Around each task, what Django does around each request: `close_old_connections`, which
    hands a healthy connection back to the process's pool and drops a broken one.

    Celery's own fixup closes every connection before and after each task, and in a prefork child
    with a pool configured (settings, DATABASES) it closes the whole pool: each task then opened a
    new PostgreSQL connection (a backend fork, ~6 ms here; bench/execution.py: 24 executions a
    second instead of 38 with one worker, a quarter of the bare tasks). A child still starts with
    a pool of its own (`on_worker_process_init` closes the connections it inherited)."""

    def on_task_prerun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            close_old_connections()

    def on_task_postrun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            close_old_connections()
            self.close_cache()


class _Fixup(DjangoFixup):
    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = _WorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def django_fixup(app: Celery) -> DjangoFixup:
    """Celery's Django integration (`celery.fixups.django.fixup`) with `_WorkerFixup`."""
    return _Fixup(app).install()


app = Celery("countersign", fixups=["config.celery:django_fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_sensitive_data(logger, **kwargs) -> None:
    """The worker logs through Celery's own handlers: they mask as the Django ones do."""
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())

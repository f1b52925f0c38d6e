"""The Celery app.

Celery's Django fixup closes the database connection around every task; with the connection pool
configured in settings (see MEASUREMENTS.md: reuse triples task throughput) closing only hands the
connection back to the pool.
"""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from config.redaction import RedactingFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("countersign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_sensitive_data(logger, **kwargs) -> None:
    """The worker logs through Celery's own handlers: they mask as the Django ones do."""
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())

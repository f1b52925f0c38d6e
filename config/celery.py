"""The Celery app. Workers keep database connections between tasks (see MEASUREMENTS.md)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("countersign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def reuse_database_connections(**kwargs) -> None:
    # Celery's Django fixup closes the connection around every task unless CONN_MAX_AGE allows
    # reuse; reuse triples task throughput. Health checks catch connections the server dropped.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = settings.CELERY_WORKER_DB_CONN_MAX_AGE

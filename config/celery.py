"""The Celery app.

Celery's Django fixup closes the database connection around every task; with the connection pool
configured in settings (see MEASUREMENTS.md: reuse triples task throughput) closing only hands the
connection back to the pool.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("countersign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

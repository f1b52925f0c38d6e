"""The Celery app's worker keeps its database connections between tasks (config/celery.py)."""

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import app

# What a prefork child's fixup sees: the worker's pool class, and a task run by the worker.
PREFORK_WORKER = SimpleNamespace(pool_cls="celery.concurrency.prefork:TaskPool")
TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def run_one_task(fixup: DjangoWorkerFixup) -> None:
    """What the worker does around a task that reads the database."""
    fixup.on_task_prerun(sender=TASK)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    fixup.on_task_postrun(sender=TASK)


@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_hands_its_connection_back_to_the_pool_after_a_task_and_keeps_the_pool(
    monkeypatch,
):
    # Arrange: the app's worker fixup, as in a prefork child, with the process's pool in use
    assert connection.pool is not None, "the settings configure a connection pool"
    fixup = app._fixups[0].worker_fixup
    monkeypatch.setattr(fixup, "worker", PREFORK_WORKER)
    run_one_task(fixup)
    pool = connection.pool
    pool.wait()  # its minimum of connections is open: a new one now would be a task's doing
    opened = pool.get_stats()["connections_num"]

    # Act: three more tasks
    for _ in range(3):
        run_one_task(fixup)

    # Assert: between tasks the connection went back to the same, open pool; none was opened
    assert connection.connection is None
    assert connection.pool is pool and not pool.closed
    assert pool.get_stats()["connections_num"] == opened


@pytest.mark.django_db(transaction=True)
def test_celery_s_own_fixup_would_close_the_pool_after_every_task():
    # Arrange: the fixup Celery installs by itself, as in a prefork child
    fixup = DjangoWorkerFixup(app)
    fixup.worker = PREFORK_WORKER
    run_one_task(fixup)
    pool_before = connection.pool

    # Act
    run_one_task(fixup)

    # Assert: the pool was closed and a new one made: a new PostgreSQL connection per task
    assert pool_before.closed
    assert connection.pool is not pool_before

"""The reference bench/execution.py measures executions against: a bare Celery task.

`celery -A bench.bare_worker worker ...` is the project's Celery app (its settings, and its way
of keeping database connections between tasks) with one more task, which reads one row and
notes when it ran in a Redis list: what any task costs before it does anything of its own.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings

from config.celery import app

_client: redis.Redis | None = None


@app.task(name="bench.bare_task")
def bare_task(*, action_id: str, key: str) -> None:
    global _client
    from approvals.models import Action

    Action.objects.filter(pk=action_id).values_list("status", flat=True).first()
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    _client.rpush(key, time.time())

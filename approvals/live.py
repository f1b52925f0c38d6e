"""Telling the outside world an action changed: websocket groups and long-poll waiters.

Everything here runs after commit (scheduled by services with `transaction.on_commit`) and is
best effort: dashboards and waiters re-read the database, which is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils.text import slugify

from approvals.models import Queue

logger = logging.getLogger(__name__)

# Every dashboard connection joins this group: breaker banners go to everyone who works a queue.
DASHBOARD_GROUP = "dashboard"
# Action changes go to the group of the action's queue, and to this one, which only superusers
# join (they see every queue, even one a rule names but nobody created).
ALL_QUEUES_GROUP = "queues.all"
ACTION_CHANNEL_PREFIX = "countersign:action:"


def queue_group(queue: str) -> str:
    """The channel-layer group of a queue, from its name as actions hold it ("" is the default)."""
    return f"queue.{slugify(queue or Queue.DEFAULT_NAME)[:80]}"


def action_channel(action_id: Any) -> str:
    return f"{ACTION_CHANNEL_PREFIX}{action_id}"


class _LoopThread:
    """One long-lived event loop per process for channel-layer sends.

    `async_to_sync(group_send)` builds a new loop and Redis connection per call (~5 ms); a send
    handed to a loop that stays up costs ~1 ms and does not block the caller.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[Future] = set()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        if self._pid != os.getpid() or self._loop is None:
            with self._lock:
                if self._pid != os.getpid() or self._loop is None:
                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(
                        target=loop.run_forever, name="countersign-push", daemon=True
                    )
                    thread.start()
                    self._loop, self._pid, self._pending = loop, os.getpid(), set()
        return self._loop

    def submit(self, coro) -> Future:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.warning("websocket push failed: %s", future.exception())

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for sends in flight (tests, and before a worker process exits)."""
        for future in list(self._pending):
            with contextlib.suppress(Exception):  # logged in _done
                future.result(timeout=timeout)


_pusher = _LoopThread()
_redis_lock = threading.Lock()
_redis: tuple[int, redis.Redis] | None = None


def _redis_client() -> redis.Redis:
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        with _redis_lock:
            if _redis is None or _redis[0] != os.getpid():
                _redis = (os.getpid(), redis.Redis.from_url(settings.REDIS_URL))
    return _redis[1]


def group_send(group: str, message: dict[str, Any]) -> Future:
    layer = get_channel_layer()
    return _pusher.submit(layer.group_send(group, message))


def flush(timeout: float = 5.0) -> None:
    _pusher.flush(timeout)


def _seq_key(group: str) -> str:
    # Under the channel layer's prefix, so parallel deployments (and test runs) never share one.
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "countersign")
    return f"{prefix}:seq:{group}"


def group_seqs(groups: list[str]) -> dict[str, int]:
    """The last sequence number given out in each group (0 if none yet)."""
    if not groups:
        return {}
    values = _redis_client().mget([_seq_key(g) for g in groups])
    return {g: int(v or 0) for g, v in zip(groups, values, strict=True)}


def _next_seqs(groups: list[str]) -> dict[str, int]:
    pipe = _redis_client().pipeline(transaction=False)
    for group in groups:
        pipe.incr(_seq_key(group))
    return dict(zip(groups, pipe.execute(), strict=True))


def publish_action_changed(payload: dict[str, Any]) -> None:
    """Push one small event to the action's queue; consumers render it, waiters re-read it.

    Each group's events carry that group's next sequence number (one Redis round trip for both
    groups): a dashboard that sees a number jump knows it missed a push and resyncs.
    """
    # The queue an action left (an edit re-routed it) hears of it too, so its pages drop the row.
    queues = dict.fromkeys([payload.get("queue", ""), payload.get("previous_queue", "")])
    groups = [*dict.fromkeys(queue_group(q) for q in queues), ALL_QUEUES_GROUP]
    try:
        seqs = _next_seqs(groups)
    except redis.RedisError:
        logger.exception("could not number a push; dashboards will see it unnumbered")
        seqs = {}
    try:
        for group in groups:
            event = {"type": "action.changed", **payload, "group": group}
            if group in seqs:
                event["seq"] = seqs[group]
            group_send(group, event)
    except Exception:
        logger.exception("could not hand a push to the channel layer")
    try:
        _redis_client().publish(action_channel(payload["action_id"]), json.dumps(payload))
    except redis.RedisError:
        logger.exception("could not publish an action change to waiters")

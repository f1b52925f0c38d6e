"""Long-poll support: wait, without a thread, until an action changes or a timeout passes.

Each ASGI process keeps one Redis pattern subscription and wakes the futures waiting on an
action when its change is published (see `live.publish_action_changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from approvals.live import ACTION_CHANNEL_PREFIX

logger = logging.getLogger(__name__)


class _Waiters:
    def __init__(self) -> None:
        self._futures: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None

    async def _ensure_listener(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._ready = loop, asyncio.Event()
            self._task = loop.create_task(self._listen(self._ready))
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def _listen(self, ready: asyncio.Event) -> None:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(f"{ACTION_CHANNEL_PREFIX}*")
            ready.set()
            # Changes published while no listener was subscribed are lost to us: every waiter
            # already parked (under a listener that died) re-reads the database once.
            self._wake_all(asyncio.get_running_loop())
            async for message in pubsub.listen():
                if message.get("type") != "pmessage":
                    continue
                channel = message["channel"].decode()
                action_id = channel[len(ACTION_CHANNEL_PREFIX) :]
                for future in self._futures.pop(action_id, ()):
                    if not future.done():
                        future.set_result(True)
        except Exception:
            logger.exception("long-poll listener stopped; waiters fall back to their timeout")
            raise
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()

    def _wake_all(self, loop: asyncio.AbstractEventLoop) -> None:
        for futures in list(self._futures.values()):
            for future in list(futures):
                if future.get_loop() is loop and not future.done():
                    future.set_result(True)

    @contextlib.asynccontextmanager
    async def subscription(self, action_id: str):
        """Register interest before reading the database, so no change slips in between.

        When Redis cannot be reached the future is still handed out: the next listener that
        subscribes wakes it, and otherwise the waiter re-reads the database at its timeout.
        """
        try:
            await self._ensure_listener()
        except (TimeoutError, OSError, RedisError):
            logger.warning("long-poll listener unavailable; waiters poll the database instead")
        future = asyncio.get_running_loop().create_future()
        self._futures[action_id].add(future)
        try:
            yield future
        finally:
            waiting = self._futures.get(action_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    self._futures.pop(action_id, None)


waiters = _Waiters()

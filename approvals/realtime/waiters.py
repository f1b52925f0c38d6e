"""Long-poll waiters: wait, without a thread, until an action changes or a timeout passes.

The waiters of a process hear of changes through its one subscription (`realtime.subscriber`),
on the action channels `publish.publish_action_changed` publishes to, and wake the futures
waiting on that action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from redis.exceptions import RedisError

from approvals.realtime.publish import ACTION_CHANNEL_PREFIX
from approvals.realtime.subscriber import Subscriber, subscriber

logger = logging.getLogger(__name__)


class Waiters:
    def __init__(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        self._futures: dict[str, set[asyncio.Future]] = defaultdict(set)

    @contextlib.asynccontextmanager
    async def subscription(self, action_id: str):
        """Register interest before reading the database, so no change slips in between.

        When Redis cannot be reached the future is still handed out: the subscription wakes it
        once it is back, and otherwise the waiter re-reads the database at its timeout.
        """
        try:
            await self._subscriber.join(self, f"{ACTION_CHANNEL_PREFIX}*")
        except (ConnectionError, OSError, RedisError):
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

    # -- what the subscriber hands over (`subscriber.Listener`)

    async def message(self, channel: bytes, data: bytes) -> None:
        action_id = channel.decode()[len(ACTION_CHANNEL_PREFIX) :]
        for future in self._futures.pop(action_id, ()):
            if not future.done():
                future.set_result(True)

    def subscribed(self) -> None:
        """Changes published while the pattern was not subscribed are lost to us: every waiter
        already parked re-reads the database once."""
        loop = asyncio.get_running_loop()
        for futures in list(self._futures.values()):
            for future in list(futures):
                if future.get_loop() is loop and not future.done():
                    future.set_result(True)

    async def subscription_lost(self) -> None:
        pass  # parked waiters are woken once the pattern is subscribed again


waiters = Waiters(subscriber)

"""The process's one Redis pattern subscription, shared by the dashboard feed and the waiters.

Each listener (the feed, the waiters) joins with the pattern of the channels it wants. One
connection subscribes to every joined pattern, reads in waits of a bounded length (PING health
checks between them, so a connection that died silently is noticed), and hands each message to
the listeners of the pattern it matched.

When the connection breaks, every listener hears of it (`subscription_lost`: the feed closes its
sockets) and the subscriber connects again with backoff. Once a pattern is subscribed again its
listeners hear that too (`subscribed`): what was published meanwhile is lost to them, so the
waiters re-read the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, Protocol

import redis.asyncio as aioredis
from django.conf import settings

from approvals.realtime.publish import feed_channel

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.5, 1, 2, 5)
START_TIMEOUT = 5.0
HEALTH_CHECK_SECONDS = 15


def client_name() -> str:
    """How this process's subscription names itself to Redis (`CLIENT LIST`)."""
    return f"{feed_channel('')}{os.getpid()}".replace(" ", "_")


class Listener(Protocol):
    """A user of the subscription, as it sees them (the feed, the waiters)."""

    async def message(self, channel: bytes, data: bytes) -> None:
        """A message published on `channel`, which matched the listener's pattern."""

    def subscribed(self) -> None:
        """The listener's pattern is subscribed (again): anything before was not received."""

    async def subscription_lost(self) -> None:
        """The connection broke; the subscriber is connecting again."""


class Subscriber:
    """One pattern subscription per process, bound to the event loop that serves the requests."""

    def __init__(self) -> None:
        self._listeners: dict[Listener, str] = {}  # each with its pattern
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._pubsub: Any = None  # the connection's, once Redis confirmed a first pattern
        self._sent: set[str] = set()  # patterns asked for on this connection
        self._confirmed: set[str] = set()  # patterns Redis confirmed on this connection
        self._changed = asyncio.Event()  # set (and replaced) when a pattern is confirmed

    async def join(self, listener: Listener, pattern: str) -> None:
        """Hand `listener` the messages of the channels matching `pattern`; once this returns,
        every message published afterwards reaches it (until the connection breaks). Raises
        `ConnectionError` if Redis does not confirm the subscription in time."""
        self._listeners[listener] = pattern
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._connection_gone(wake=False)  # an event of another loop has nobody to wake
            self._task = loop.create_task(self._run(), name="countersign-subscriber")
        deadline = loop.time() + START_TIMEOUT
        while pattern not in self._confirmed:
            if self._pubsub is not None and pattern not in self._sent:
                # A pattern new to a connection that is up. One still connecting is asked once
                # it confirms its first pattern; the next one after a loss asks for them all.
                self._sent.add(pattern)
                with contextlib.suppress(Exception):  # the reading task notices a broken one
                    await self._pubsub.psubscribe(pattern)
                continue
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError as exc:
                raise ConnectionError(f"could not subscribe to {pattern} on Redis") from exc

    async def leave(self, listener: Listener) -> None:
        """Stop handing `listener` messages; the last one to leave closes the connection."""
        pattern = self._listeners.pop(listener, None)
        if not self._listeners:
            await self.close()
        elif pattern is not None and pattern not in self._listeners.values():
            self._sent.discard(pattern)
            self._confirmed.discard(pattern)
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.punsubscribe(pattern)

    async def close(self) -> None:
        self._listeners.clear()
        task, self._task = self._task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._connection_gone()

    # -- the connection

    def _connection_gone(self, *, wake: bool = True) -> None:
        self._pubsub = None
        self._sent, self._confirmed = set(), set()
        if wake:  # joiners look again, and wait for the next connection's confirmations
            self._changed.set()
        self._changed = asyncio.Event()

    async def _run(self) -> None:
        attempt = 0
        while True:
            client = aioredis.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=5,
                socket_keepalive=True,
                health_check_interval=HEALTH_CHECK_SECONDS,
                client_name=client_name(),
            )
            pubsub = client.pubsub()
            try:
                patterns = set(self._listeners.values())
                self._sent = set(patterns)
                await pubsub.psubscribe(*patterns)
                while True:
                    # Waits of a bounded length, so a quiet connection is checked (PING) between
                    # them: one that died silently is noticed instead of waited on forever.
                    message = await pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "pmessage":
                        await self._deliver(message)
                    elif message["type"] == "psubscribe":
                        # Only now may joiners send their own PSUBSCRIBE on it: one sent while it
                        # was still connecting could have opened a second connection.
                        attempt, self._pubsub = 0, pubsub
                        self._confirm(message["channel"].decode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: tell the listeners, then subscribe again
                logger.warning("the Redis subscription broke: %s", exc)
                self._connection_gone()
                for listener in list(self._listeners):
                    try:
                        await listener.subscription_lost()
                    except Exception:
                        logger.exception("a listener failed to handle a lost subscription")
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _confirm(self, pattern: str) -> None:
        if pattern not in self._sent:
            return  # left meanwhile
        self._confirmed.add(pattern)
        self._changed.set()
        self._changed = asyncio.Event()
        for listener, wanted in list(self._listeners.items()):
            if wanted == pattern:
                try:
                    listener.subscribed()
                except Exception:
                    logger.exception("a listener failed to handle its subscription")

    async def _deliver(self, message: dict[str, Any]) -> None:
        pattern = message["pattern"].decode()
        for listener, wanted in list(self._listeners.items()):
            if wanted == pattern:
                try:
                    await listener.message(message["channel"], message["data"])
                except Exception:
                    logger.exception("a listener failed to handle a message")


subscriber = Subscriber()

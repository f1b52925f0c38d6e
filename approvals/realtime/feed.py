"""The dashboard feed of one server process: events read once, frames written per socket.

A push used to travel as one channel-layer message per connection: 50 dashboards meant 50 Redis
entries, 50 reads and 50 consumer dispatches for every changed action. Here each server process
reads the feed channels (`publish.feed_channel`) through its one subscription
(`realtime.subscriber`), reads each event once, builds each distinct frame once, and hands the
frames to the outboxes of the local sockets whose groups the event names. An event normally
carries its row, rendered by the process that made the change; the dashboard's `prepare` renders
one that does not, once per process.

Delivery stays best effort, as it always was: every action event carries its group's sequence
number, so a page that misses one sees the jump and resyncs from the database. When the
subscription itself breaks, every socket of the process is closed (`CLOSE_FEED_LOST`): the pages
reconnect and resync, rather than wait for the next event to reveal the gap.

Each socket has its own outbox, drained by its own task, so a slow or stalled client never holds
up the others; one that falls `OUTBOX_LIMIT` frames behind is closed (`CLOSE_TOO_SLOW`) and
resyncs when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from approvals.realtime.publish import feed_pattern
from approvals.realtime.subscriber import Subscriber

logger = logging.getLogger(__name__)

CLOSE_FEED_LOST = 4012  # the process lost its subscription: reconnect and resync
CLOSE_TOO_SLOW = 4008  # the client fell too far behind: reconnect and resync
OUTBOX_LIMIT = 2000


class Member(Protocol):
    """A connected dashboard as the feed sees it (the consumer)."""

    def feed_event(self, event: dict[str, Any], frames: EventFrames) -> None:
        """Queue what this person gets of `event` (through `frames`, built once per event)."""

    async def feed_lost(self) -> None: ...


class Outbox:
    """Frames waiting for one socket, written in order by one task that lives while any wait.

    The task starts eagerly: a frame the socket takes at once (the usual case) is written before
    `put` returns, without a trip through the event loop; only a write that has to wait (the
    client is not reading) leaves a task behind, and the frames after it queue up here.
    """

    def __init__(self, send: Callable[[str], Awaitable[None]], on_overflow) -> None:
        self._send = send
        self._on_overflow = on_overflow
        self._frames: deque[str] = deque()
        self._task: asyncio.Task | None = None
        self.closed = False

    def put(self, frame: str) -> None:
        if self.closed:
            return
        if len(self._frames) >= OUTBOX_LIMIT:
            self.close()
            asyncio.get_running_loop().create_task(self._on_overflow())
            return
        self._frames.append(frame)
        if self._task is None:
            task = asyncio.Task(self._drain(), loop=asyncio.get_running_loop(), eager_start=True)
            if not task.done():
                self._task = task

    async def _drain(self) -> None:
        try:
            while self._frames and not self.closed:
                await self._send(self._frames.popleft())
        except Exception:  # the socket went away; its consumer is being torn down
            self.close()
        finally:
            self._task = None

    def close(self) -> None:
        self.closed = True
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)


class EventFrames:
    """The frames one event can become, each built at most once whatever the number of sockets."""

    def __init__(self, event: dict[str, Any]):
        self.event = event
        self._built: dict[str, str] = {}

    def frame(self, kind: str, build: Callable[[], dict[str, Any]]) -> str:
        text = self._built.get(kind)
        if text is None:
            text = self._built[kind] = json.dumps(build())
        return text


class Feed:
    """The process's dashboard sockets by group, fed by `subscriber` on the event loop that serves
    them.

    `prepare`, if given, is awaited once per event that has local sockets, before they get it:
    it returns the event with what it lacked filled in (the dashboard renders a missing row).
    """

    def __init__(
        self,
        subscriber: Subscriber,
        prepare: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self._subscriber = subscriber
        self._prepare = prepare
        self._members: dict[str, set[Member]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.events = 0  # events read, for tests and the bench

    # -- membership

    async def join(self, member: Member, groups: tuple[str, ...]) -> None:
        """Start receiving the events of `groups` for `member`; once this returns, every event
        published afterwards reaches it. Raises `ConnectionError` if Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._members.clear()  # sockets of a closed loop (tests run one per test)
            self._loop = loop
        await self._subscriber.join(self, feed_pattern())
        for group in groups:
            self._members.setdefault(group, set()).add(member)

    def leave(self, member: Member, groups: tuple[str, ...]) -> None:
        for group in groups:
            members = self._members.get(group)
            if members is not None:
                members.discard(member)
                if not members:
                    del self._members[group]

    async def close(self) -> None:
        """Leave the subscription and forget every socket (a feed made for a while, as the
        bench's)."""
        self._members.clear()
        await self._subscriber.leave(self)

    def member_count(self) -> int:
        return len({m for members in self._members.values() for m in members})

    # -- what the subscriber hands over (`subscriber.Listener`)

    def subscribed(self) -> None:
        pass  # sockets joined before a loss were closed; the ones joining now read afresh

    async def subscription_lost(self) -> None:
        """Drop the sockets: they reconnect and resync."""
        members = {m for members in self._members.values() for m in members}
        self._members.clear()
        for member in members:
            with contextlib.suppress(Exception):
                await member.feed_lost()

    async def message(self, channel: bytes, data: bytes) -> None:
        try:
            event = json.loads(data)
            members = self._members.get(event["group"])
        except (ValueError, KeyError, TypeError):
            logger.warning("dashboard feed: ignored a malformed event")
            return
        self.events += 1
        if not members:
            return
        if self._prepare is not None:
            try:
                event = await self._prepare(event)
            except Exception:
                logger.exception("dashboard feed: could not prepare an event; it is dropped")
                return
        frames = EventFrames(event)
        for member in list(members):
            try:
                member.feed_event(event, frames)
            except Exception:
                logger.exception("dashboard feed: could not hand an event to a socket")

"""The dashboard websocket: supervisors get rendered rows as the actions of their queues change."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals import rulebook
from approvals.models import Queue
from approvals.presenters import (
    PUSHED_ROW_CATALOG_MAX_AGE,
    Viewer,
    action_row_render,
    breaker_banner_html,
    viewer_for,
)
from approvals.realtime.feed import CLOSE_FEED_LOST, CLOSE_TOO_SLOW, EventFrames, Feed, Outbox
from approvals.realtime.publish import (
    ACTION_CHANGED,
    ALL_QUEUES_GROUP,
    BREAKER_CHANGED,
    DASHBOARD_GROUP,
    PERSON_SOCKETS_CLOSE,
    group_seqs,
    person_group,
    queue_group,
)
from approvals.realtime.subscriber import subscriber
from config.limits import ws_frame_too_large

RowKey = tuple[str, int, str]  # (action id, version, updated_at)


class RowCache:
    """Rows this process rendered for events that came without one (their publisher's render
    failed), shared by every dashboard connection of the process.

    The row is the same for every viewer (per person bits are data attributes the page applies),
    so it is rendered once per process and (action, version, updated_at): concurrent callers
    await the one render in flight (single flight), later ones find it here. Bounded, least
    recently used out first. A render may read a state newer than its key; the page orders rows
    by their own version and time, so that is safe.
    """

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.renders = 0
        self._rows: OrderedDict[RowKey, tuple[str, str]] = OrderedDict()
        self._inflight: dict[RowKey, asyncio.Task] = {}

    def clear(self) -> None:
        self._rows.clear()
        self._inflight.clear()
        self.renders = 0

    async def get(
        self, key: RowKey, render: Callable[[], Awaitable[tuple[str, str]]]
    ) -> tuple[str, str]:
        if key in self._rows:
            self._rows.move_to_end(key)
            return self._rows[key]
        task = self._inflight.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._render(key, render))
            self._inflight[key] = task
        # Shielded: one consumer going away must not cancel the render the others wait for.
        return await asyncio.shield(task)

    async def _render(self, key: RowKey, render) -> tuple[str, str]:
        try:
            value = await render()
            self.renders += 1
            self._rows[key] = value
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)
            return value
        finally:
            self._inflight.pop(key, None)


rows = RowCache()

# Closing before accept turns into an HTTP 403 on the handshake; the code is for tests and logs.
CLOSE_FORBIDDEN = 4403
# The feed could not be joined (Redis unreachable): the page retries and resyncs.
CLOSE_UNAVAILABLE = 4013
# A client sent a frame over WS_MAX_MESSAGE_BYTES (pages only send pings): policy violation.
CLOSE_TOO_LARGE = 1008
# The person signed out or their roles changed: the page reloads (to sign in, or with new rights).
CLOSE_PERSON_CHANGED = 4401


async def _fill_in_row(event: dict) -> dict:
    """An action event that came without its row (its publisher could not render it) gets it
    here, rendered once per process, with the queue the action held when rendered."""
    if event.get("type") != ACTION_CHANGED or "html" in event:
        return event
    action_id = event["action_id"]
    key = (action_id, event.get("version", 0), event.get("updated_at", ""))
    html, queue = await rows.get(
        key,
        lambda: database_sync_to_async(action_row_render)(
            action_id=action_id, catalog_max_age=PUSHED_ROW_CATALOG_MAX_AGE
        ),
    )
    return {**event, "html": html, "row_queue": queue}


feed = Feed(subscriber, prepare=_fill_in_row)


class FeedConsumer(AsyncJsonWebsocketConsumer):
    """A socket fed by the process's feed (`realtime.feed`): it joins groups, says hello with each
    numbered group's current sequence number, answers pings, and is closed when it falls too far
    behind or the feed loses its subscription (the page reconnects and resyncs), and when its
    person signs out or their roles change (every socket joins its person's group). Subclasses
    decide who may connect and which groups they join (`join_feed`), and turn events into frames
    (`page_event`). The dashboard and the escalation workspace are two."""

    # No channel-layer channel per socket: pushes come from the process's feed.
    channel_layer_alias = None
    groups_joined: tuple[str, ...] = ()
    outbox: Outbox | None = None

    async def join_feed(self, groups: tuple[str, ...], numbered: list[str]) -> None:
        """Join `groups` and the person's own, accept, and say hello with the sequence numbers of
        `numbered`."""
        self.outbox = Outbox(self._send_frame, self._too_slow)
        groups = (*groups, person_group(self.scope["user"].pk))
        try:
            await feed.join(self, groups)
        except ConnectionError:
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.groups_joined = groups
        await self.accept()
        # Read after joining: any event numbered above these reaches this socket.
        seqs = await sync_to_async(group_seqs)(list(numbered))
        await self.send_json({"type": "hello", "seqs": seqs})

    async def disconnect(self, code: int) -> None:
        feed.leave(self, self.groups_joined)
        if self.outbox is not None:
            self.outbox.close()

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):
            return None  # a garbled frame is ignored, not a reason to drop the connection

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if ws_frame_too_large(text_data, bytes_data):
            await self.close(code=CLOSE_TOO_LARGE)
            return
        if text_data is not None:
            await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # -- the feed

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def _too_slow(self) -> None:
        feed.leave(self, self.groups_joined)
        await self.close(code=CLOSE_TOO_SLOW)

    async def feed_lost(self) -> None:
        self.outbox.close()
        await self.close(code=CLOSE_FEED_LOST)

    def feed_event(self, event: dict, frames: EventFrames) -> None:
        if event.get("type") == PERSON_SOCKETS_CLOSE:
            asyncio.get_running_loop().create_task(self._close_for_person())
        else:
            self.page_event(event, frames)

    async def _close_for_person(self) -> None:
        feed.leave(self, self.groups_joined)
        if self.outbox is not None:
            self.outbox.close()
        await self.close(code=CLOSE_PERSON_CHANGED)

    def page_event(self, event: dict, frames: EventFrames) -> None:
        raise NotImplementedError


class DashboardConsumer(FeedConsumer):
    """Joins the process's dashboard feed (`realtime.feed`) for one group per queue the person
    works (superusers: the all-queues group) and the dashboard group (breaker banners); each
    `action.changed` event becomes a frame with the row partial the publisher rendered.

    The queues are read once, at connect: a change of membership applies from the next connection.

    Delivery is best effort: the client resyncs the whole list from the database on reconnect and
    ignores a row older than the one it shows (by `data-version`, then `data-updated`). Every
    action event carries its group's sequence number, `hello` the current one of each group, and
    an event this person may not see still goes out as a small `skip`, so a jump in the numbers
    means a lost push and the page resyncs.
    """

    viewer: Viewer | None = None

    async def connect(self) -> None:
        viewer = await database_sync_to_async(viewer_for)(self.scope.get("user"))
        if not rulebook.may_use_dashboard(viewer):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.viewer = viewer
        if viewer.queues is None:
            queue_groups = [ALL_QUEUES_GROUP]
        else:
            queue_groups = sorted({queue_group(name) for name in viewer.queues})
        await self.join_feed((DASHBOARD_GROUP, *queue_groups), queue_groups)

    def page_event(self, event: dict, frames: EventFrames) -> None:
        if event.get("type") == BREAKER_CHANGED:
            asyncio.get_running_loop().create_task(self._send_banner())
        elif event.get("type") == ACTION_CHANGED:
            frame = self._action_frame(event, frames)
            if frame:
                self.outbox.put(frame)

    def _action_frame(self, event: dict, frames: EventFrames) -> str:
        queue = event.get("queue", "")
        left = event.get("previous_queue", queue)
        if event.get("group") == queue_group(left) != queue_group(queue):
            # The copy of an event sent to the queue an action left: who sees its new queue gets
            # the row from that queue's copy; who saw it only here is told to drop it.
            if rulebook.may_see_queue(self.viewer, queue) or not rulebook.may_see_queue(
                self.viewer, left
            ):
                return _skip(frames)
            return frames.frame("removed", lambda: _removed(event, left))
        if not rulebook.may_see_queue(self.viewer, queue):
            return _skip(frames)  # e.g. two queues whose names share a slug
        html = event.get("html", "")
        if not html or not rulebook.may_see_queue(self.viewer, event.get("row_queue", queue)):
            return _skip(frames)  # the action is gone, or was moved out of sight meanwhile
        return frames.frame("changed", lambda: _changed(event, html))

    async def _send_banner(self) -> None:
        """A breaker tripped or was reset: send the whole banner, rendered from the database."""
        html = await database_sync_to_async(breaker_banner_html)(viewer=self.viewer)
        self.outbox.put(json.dumps({"type": "breaker.changed", "html": html}))


def _skip(frames: EventFrames) -> str:
    event = frames.event
    if event.get("seq") is None:
        return ""
    return frames.frame("skip", lambda: {"type": "skip", "group": event.get("group"),
                                         "seq": event["seq"]})  # fmt: skip


def _changed(event: dict, html: str) -> dict:
    return {
        "type": ACTION_CHANGED,
        "action_id": event["action_id"],
        "status": event["status"],
        "previous_status": event.get("previous_status", event["status"]),
        "version": event["version"],
        "queue": event.get("queue") or Queue.DEFAULT_NAME,
        "previous_queue": event.get("previous_queue", event.get("queue")) or Queue.DEFAULT_NAME,
        "group": event.get("group"),
        "seq": event.get("seq"),
        "html": html,
    }


def _removed(event: dict, left: str) -> dict:
    return {
        "type": "action.removed",
        "action_id": event["action_id"],
        "previous_status": event.get("previous_status", event["status"]),
        "previous_queue": left or Queue.DEFAULT_NAME,
        "group": event.get("group"),
        "seq": event.get("seq"),
    }

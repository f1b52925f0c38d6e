"""The dashboard websocket: supervisors get rendered rows as the actions of their queues change."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals.live import ALL_QUEUES_GROUP, DASHBOARD_GROUP, queue_group
from approvals.presenters import Viewer, action_row_html, breaker_banner_html, viewer_for

# Closing before accept turns into an HTTP 403 on the handshake; the code is for tests and logs.
CLOSE_FORBIDDEN = 4403


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Joins one group per queue the person works (superusers: the all-queues group) and the
    dashboard group (breaker banners); each small `action.changed` event becomes the row partial.

    The queues are read once, at connect: a change of membership applies from the next connection.

    Delivery is best effort: the client resyncs the whole list from the database on reconnect and
    ignores a row older than the one it shows (by `data-version`).
    """

    viewer: Viewer | None = None
    groups_joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        viewer = await database_sync_to_async(viewer_for)(self.scope.get("user"))
        if not viewer.may_use_dashboard:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.viewer = viewer
        if viewer.queues is None:
            queue_groups = [ALL_QUEUES_GROUP]
        else:
            queue_groups = sorted({queue_group(name) for name in viewer.queues})
        self.groups_joined = (DASHBOARD_GROUP, *queue_groups)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None  # a garbled frame is ignored, not a reason to drop the connection

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is not None:
            await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def action_changed(self, event: dict) -> None:
        if not self.viewer.may_see_queue(event.get("queue", "")):
            return  # e.g. two queues whose names share a slug
        html = await database_sync_to_async(action_row_html)(
            action_id=event["action_id"], viewer=self.viewer
        )
        if not html:
            return
        await self.send_json(
            {
                "type": "action.changed",
                "action_id": event["action_id"],
                "status": event["status"],
                "version": event["version"],
                "html": html,
            }
        )

    async def breaker_changed(self, event: dict) -> None:
        """A breaker tripped or was reset: send the whole banner, rendered from the database."""
        html = await database_sync_to_async(breaker_banner_html)(viewer=self.viewer)
        await self.send_json({"type": "breaker.changed", "html": html})

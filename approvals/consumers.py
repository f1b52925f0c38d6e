"""The dashboard websocket: signed-in supervisors get rendered rows as actions change."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals.live import DASHBOARD_GROUP
from approvals.presenters import Viewer, action_row_html, breaker_banner_html, viewer_for

# Closing before accept turns into an HTTP 403 on the handshake; the code is for tests and logs.
CLOSE_FORBIDDEN = 4403


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Joins the dashboard group; each small `action.changed` event becomes the row partial.

    Delivery is best effort: the client resyncs the whole list from the database on reconnect and
    ignores a row older than the one it shows (by `data-version`).
    """

    viewer: Viewer | None = None

    async def connect(self) -> None:
        viewer = await database_sync_to_async(viewer_for)(self.scope.get("user"))
        if not viewer.may_use_dashboard:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.viewer = viewer
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code: int) -> None:
        if self.viewer is not None:
            await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

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

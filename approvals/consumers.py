"""The dashboard websocket: session-authenticated supervisors get rendered rows as actions change."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals.live import DASHBOARD_GROUP
from approvals.presenters import action_row_html, may_use_dashboard


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await database_sync_to_async(
            may_use_dashboard
        )(user):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def action_changed(self, event: dict) -> None:
        html = await database_sync_to_async(action_row_html)(
            action_id=event["action_id"], user=self.scope["user"]
        )
        await self.send_json(
            {
                "type": "action.changed",
                "action_id": event["action_id"],
                "status": event["status"],
                "version": event["version"],
                "html": html,
            }
        )

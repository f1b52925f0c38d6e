"""The sign-in checks of pages, for websockets: a socket opens only for a session that is still
within its lifetime (`config.sessions`) and, for people who need one, verified with a second
factor (`config.two_factor`). Otherwise the handshake is refused, as the consumers refuse one."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from config import clock
from config.sessions import session_ended
from people import two_factor

CLOSE_REFUSED = 4403


def _refused(scope) -> bool:
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return False  # the consumers refuse anonymous people themselves
    if session_ended(session, clock.now().timestamp()):
        return True
    device_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(device_id) if device_id else None
    verified = device is not None and device.user_id == user.pk and device.confirmed
    return not verified and two_factor.second_factor_required(user)


class SocketSignInGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and await database_sync_to_async(_refused)(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": CLOSE_REFUSED})
            return None
        return await self.app(scope, receive, send)

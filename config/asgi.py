"""ASGI entry point: HTTP through Django (API bodies capped first), websockets through Channels
(session auth, origins)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from approvals.routing import websocket_urlpatterns as dashboard_routes  # noqa: E402
from config.limits import AsgiBodyLimit  # noqa: E402
from config.socket_guard import SocketSignInGuard  # noqa: E402
from escalations.routing import websocket_urlpatterns as workspace_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": AsgiBodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                SocketSignInGuard(URLRouter([*dashboard_routes, *workspace_routes]))
            )
        ),
    }
)

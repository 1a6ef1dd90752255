"""ASGI entry point: HTTP through Django, WebSocket /ws/ through the signaling consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from calls.routing import websocket_urlpatterns  # noqa: E402
from calls.security import signaling_websocket  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": signaling_websocket(URLRouter(websocket_urlpatterns)),
})

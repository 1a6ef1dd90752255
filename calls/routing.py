"""The WebSocket URL patterns a site mounts (see callproject/asgi.py)."""

from django.urls import path

from .consumer import SignalingConsumer

websocket_urlpatterns = [
    path("ws/", SignalingConsumer.as_asgi()),
]

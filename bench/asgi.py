"""The project's ASGI application plus a bare echo consumer, for the benchmark only.

/bench/echo/ echoes every text frame back: the framework's own cost per message
(daphne, autobahn, channels' consumer plumbing), with no Origin check, no
session middleware and no protocol logic. Every benchmark figure is also given
as a ratio to it.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402

from callproject.asgi import application as project_application  # noqa: E402

ECHO_PATH = "/bench/echo/"


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)


echo_application = EchoConsumer.as_asgi()


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] == ECHO_PATH:
        return await echo_application(scope, receive, send)
    return await project_application(scope, receive, send)

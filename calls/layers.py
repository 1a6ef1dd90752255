"""An in-memory channel layer for one process that stays fast with thousands of connections.

channels' InMemoryChannelLayer scans every channel and group membership on each
receive and group send, starts a task per member on a group send and deep-copies
every message: its cost grows with the number of connections. This one does the
expiry scan at most once a second and delivers group messages directly.

Messages are not copied: a receiver must not change a message it got (as with
our consumers). Use it like the original:

    CHANNEL_LAYERS = {"default": {"BACKEND": "calls.layers.InMemoryChannelLayer"}}
"""

import asyncio
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

CLEAN_EVERY = 1.0  # seconds between expiry scans


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._next_clean = 0.0

    def _queue(self, channel):
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _clean_now_and_then(self):
        now = time.monotonic()
        if now >= self._next_clean:
            self._next_clean = now + CLEAN_EVERY
            self._clean_expired()

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        self._clean_now_and_then()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_now_and_then()
        expires = time.time() + self.expiry
        for channel in list(self.groups.get(group, ())):
            try:
                self._queue(channel).put_nowait((expires, message))
            except asyncio.QueueFull:
                pass  # as channels' layers do: a full member misses a group message

"""The load generator's client: websockets' Sans-I/O protocol on a plain asyncio Protocol.

The load generator shares the two cores with the server it measures. Through
`websockets.connect` (the asyncio connection: a reader task, a message
assembler, locks and a `wait_for` per frame) it spent about as much CPU per call
as the server, and a run with the server niced above it measured longer setup
latencies: the client's own delays were in the figures. Here websockets'
protocol object makes the opening handshake; after it, frames are read and
written by `FrameCodec`, in the transport's callback; timeouts are checked by
one sweep over all clients rather than a timer each.

Only what the benchmark needs: text frames; for the echo baseline a frame and
its echo; for sessions requests and responses, events and invites answered at
once (as `calls.client.SignalingClient` does by default).
"""

import asyncio
import collections
import itertools
import random
import struct
import time

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.speedups import apply_mask
from websockets.uri import parse_uri

from calls.client import ClientError

SWEEP_EVERY = 0.5  # seconds between checks for requests and waits past their timeout

_FIN = 0x80
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class FrameCodec:
    """RFC 6455 frames of an open connection, for a client: what websockets' protocol did.

    websockets' Sans-I/O parser is a generator per frame over a stream reader,
    and its writer draws each frame's mask from the OS: a quarter of the load
    generator's CPU. Servers' frames are small, unmasked, seldom fragmented;
    this reads whole frames off a buffer and masks outgoing ones in C (masks from
    a non-cryptographic generator: this client only measures). Text messages
    (fragmented or not) go to `on_text`, pings are answered, a close is echoed.
    """

    def __init__(self, transport, on_text):
        self.transport, self.on_text = transport, on_text
        self.buffer = b""
        self.fragments = []
        self.closing = False

    def close(self, code_and_reason):
        """Send a close frame; a close the server sends after it is not echoed."""
        self.closing = True
        self.send(_CLOSE, code_and_reason)

    def send(self, opcode, payload):
        length = len(payload)
        if length < 126:
            header = bytes((_FIN | opcode, 0x80 | length))
        elif length < 65536:
            header = struct.pack("!BBH", _FIN | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", _FIN | opcode, 0x80 | 127, length)
        mask = random.getrandbits(32).to_bytes(4, "big")
        self.transport.write(header + mask + apply_mask(payload, mask))

    def receive(self, data):
        data = self.buffer + data if self.buffer else data
        position, size = 0, len(data)
        while size - position >= 2:
            first, length, start = data[position], data[position + 1] & 0x7F, position + 2
            if length >= 126:
                width = 2 if length == 126 else 8
                if size - start < width:
                    break
                length, start = int.from_bytes(data[start:start + width], "big"), start + width
            end = start + length
            if end > size:
                break
            position = end
            self.frame(first & 0x0F, first & _FIN, data[start:end])
        self.buffer = data[position:]

    def frame(self, opcode, fin, payload):
        if opcode == _TEXT or (opcode == 0 and self.fragments):  # 0: a continuation
            if fin and not self.fragments:
                self.on_text(payload)
                return
            self.fragments.append(payload)
            if fin:
                message, self.fragments = b"".join(self.fragments), []
                self.on_text(message)
        elif opcode == _PING:
            self.send(_PONG, payload)
        elif opcode == _CLOSE:
            if not self.closing:  # the server's close, echoed; ours was already sent
                self.close(payload[:2])
            self.transport.close()


class WebSocket(asyncio.Protocol):
    """One client connection; `on_text(data)` gets each text message (UTF-8 bytes)."""

    def __init__(self, url, on_text, on_lost=None):
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.on_text, self.on_lost = on_text, on_lost
        self.transport = None
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.frames = None  # the FrameCodec, once the handshake is done

    @classmethod
    async def open(cls, url, on_text, on_lost=None, timeout=30):
        uri = parse_uri(url)
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: cls(url, on_text, on_lost),
                                                     uri.host, uri.port)
        await asyncio.wait_for(asyncio.shield(connection.opened), timeout)
        return connection

    def connection_made(self, transport):
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data):
        if self.frames is not None:
            self.frames.receive(data)
            return
        self.protocol.receive_data(data)  # the handshake's response
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and self.frames is not None:  # came with the response
                self.frames.frame(event.opcode.value, event.fin, event.data)
            elif isinstance(event, Response) and self.protocol.handshake_exc is not None:
                self.opened.set_exception(self.protocol.handshake_exc)
            elif isinstance(event, Response):
                self.frames = FrameCodec(self.transport, self.on_text)
                self.opened.set_result(None)
        if self.frames is not None:  # what the protocol holds of a frame not yet whole
            self.frames.receive(bytes(self.protocol.reader.buffer))
        self._flush()

    def eof_received(self):
        if self.frames is None:
            self.protocol.receive_eof()
            self._flush()

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection closed during the handshake"))
        self.closed.set_result(None)
        if self.on_lost is not None:
            self.on_lost()

    def send_text(self, data):
        self.frames.send(_TEXT, data)

    def _flush(self):
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    async def close(self, timeout=5):
        if self.transport.is_closing():
            return
        self.frames.close((1000).to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()


class EchoConnection:
    """A connection to the echo consumer."""

    def __init__(self):
        self.ws, self.waiter = None, None

    @classmethod
    async def open(cls, url):
        conn = cls()
        conn.ws = await WebSocket.open(url, conn._received)
        return conn

    def send(self, data):
        """Send a frame; return a future of the next frame received."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.ws.send_text(data)
        return self.waiter

    async def close(self):
        await self.ws.close()

    def _received(self, data):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)


class BenchClient:
    """A signaling session for the load generator (the calls.client.SignalingClient subset it uses)."""

    live = set()  # open clients, for the sweep
    sweeper = None  # the sweep's task, on the running loop

    def __init__(self):
        self.ws = None
        self.tids = itertools.count(1)
        self.waiting = {}  # tid -> (future, deadline)
        self.queues = {"event": collections.deque(), "invite": collections.deque()}
        self.waiters = {"event": None, "invite": None}  # (future, deadline) of a next_* call
        self.session_id = None

    @classmethod
    async def connect(cls, url):
        client = cls()
        client.ws = await WebSocket.open(url, client._received, client._lost)
        cls.live.add(client)
        if (cls.sweeper is None or cls.sweeper.done()
                or cls.sweeper.get_loop() is not asyncio.get_running_loop()):
            cls.sweeper = asyncio.ensure_future(cls._sweep())
        return client

    def send(self, obj):
        self.ws.send_text(orjson.dumps(obj))

    async def request(self, cls, subclass, cmd, data=None, timeout=10):
        """Send a request and return its response's data, or raise ClientError."""
        self._check_open()
        tid = next(self.tids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[tid] = (future, time.monotonic() + timeout)
        msg = {"class": cls, "subclass": subclass, "cmd": cmd, "tid": tid}
        if data is not None:
            msg["data"] = data
        self.send(msg)
        try:
            response = await future
        finally:
            self.waiting.pop(tid, None)
        if response["result"] == "error":
            raise ClientError(response["data"]["code"], response["data"]["error"])
        return response.get("data", {})

    async def next_event(self, type_=None, timeout=10):
        """The next event (its data), skipping those of other types when `type_` is given."""
        while True:
            event = await self._next("event", timeout)
            if type_ is None or event["type"] == type_:
                return event

    async def next_invite(self, timeout=10):
        return await self._next("invite", timeout)

    async def _next(self, kind, timeout):
        queue = self.queues[kind]
        if queue:
            return queue.popleft()
        self._check_open()
        future = asyncio.get_running_loop().create_future()
        self.waiters[kind] = (future, time.monotonic() + timeout)
        try:
            return await future
        finally:
            self.waiters[kind] = None

    def _check_open(self):
        if self.ws.closed.done():
            raise ConnectionError("connection closed")

    def _received(self, data):
        msg = orjson.loads(data)
        if "result" in msg:
            entry = self.waiting.get(msg.get("tid"))
            if entry is not None and not entry[0].done():
                entry[0].set_result(msg)
            return
        cmd = msg.get("cmd")
        if cmd == "event":
            self._queue("event", msg["data"])
        elif cmd == "invite":
            self._queue("invite", msg)
        if cmd in ("event", "invite", "ping"):
            self.send({"result": "ok", "tid": msg["tid"]})

    def _queue(self, kind, item):
        waiter = self.waiters[kind]
        if waiter is not None and not waiter[0].done():
            waiter[0].set_result(item)
        else:
            self.queues[kind].append(item)

    def _pending(self):
        return list(self.waiting.values()) + [w for w in self.waiters.values() if w]

    @classmethod
    async def _sweep(cls):
        """Fail what waited past its deadline (a request, a next_event) with a timeout."""
        while cls.live:
            await asyncio.sleep(SWEEP_EVERY)
            now = time.monotonic()
            for client in list(cls.live):
                for future, deadline in client._pending():
                    if now > deadline and not future.done():
                        future.set_exception(asyncio.TimeoutError())

    def _lost(self):
        self.live.discard(self)
        for future, _ in self._pending():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))

    async def close(self):
        self.live.discard(self)
        await self.ws.close()

"""The load generator's client: websockets' Sans-I/O protocol on a plain asyncio Protocol.

The load generator shares the two cores with the server it measures. Through
`websockets.connect` (the asyncio connection: a reader task, a message
assembler, locks and a `wait_for` per frame) it spent about as much CPU per call
as the server, and a run with the server niced above it measured longer setup
latencies: the client's own delays were in the figures. Here each frame is
parsed and framed by websockets' protocol object (RFC 6455, masking, control
frames) and handled in the transport's callback; timeouts are checked by one
sweep over all clients rather than a timer each.

Only what the benchmark needs: text frames; for the echo baseline a frame and
its echo; for sessions requests and responses, events and invites answered at
once (as `calls.client.SignalingClient` does by default).
"""

import asyncio
import collections
import itertools
import time

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from calls.client import ClientError

SWEEP_EVERY = 0.5  # seconds between checks for requests and waits past their timeout


class WebSocket(asyncio.Protocol):
    """One client connection; `on_text(data)` gets each text message (UTF-8 bytes)."""

    def __init__(self, url, on_text, on_lost=None):
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.on_text, self.on_lost = on_text, on_lost
        self.transport = None
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.fragments = []

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
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    self.opened.set_exception(self.protocol.handshake_exc)
                else:
                    self.opened.set_result(None)
            elif event.opcode is Opcode.TEXT or (event.opcode is Opcode.CONT and self.fragments):
                self._text(event)
        self._flush()

    def _text(self, frame):
        if frame.fin and not self.fragments:
            self.on_text(frame.data)
            return
        self.fragments.append(frame.data)
        if frame.fin:
            data, self.fragments = b"".join(self.fragments), []
            self.on_text(data)

    def eof_received(self):
        self.protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection closed during the handshake"))
        self.closed.set_result(None)
        if self.on_lost is not None:
            self.on_lost()

    def send_text(self, data):
        self.protocol.send_text(data)
        self._flush()

    def _flush(self):
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    async def close(self, timeout=5):
        if self.transport.is_closing():
            return
        self.protocol.send_close()
        self._flush()
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

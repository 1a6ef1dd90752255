"""A small asyncio client of the signaling protocol, for tests, benchmarks and scripts.

    async with SignalingClient.connect("ws://127.0.0.1:8000/ws/") as c:
        await c.login("alice", password="...")
        call_id = (await c.request("media", "call", "start", {"callee": "bob"}))["call_id"]
        event = await c.next_event("hangup")

Server requests are handled for you: pings are answered, events are answered and
queued (`next_event`), invites are queued (`next_invite`) and answered by the
`invite_answer` policy unless it is None (then answer them with `respond`).
"""

import asyncio
import itertools

import orjson
import websockets


class ClientError(Exception):
    """An error response: its code and text."""

    def __init__(self, code, error):
        self.code, self.error = code, error
        super().__init__(f"{code} {error}")


class SignalingClient:
    def __init__(self, ws, invite_answer="ok"):
        self.ws = ws
        self.tids = itertools.count(1)
        self.waiting = {}  # tid -> future of our requests
        self.events = asyncio.Queue()
        self.invites = asyncio.Queue()
        self.server_requests = asyncio.Queue()  # anything else the server asks
        self.invite_answer = invite_answer  # "ok", "error", {"retry": N}, or None
        self.answer_pings = True
        self.session_id = None
        self.closed = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    def connect(cls, url, origin=None, headers=None, invite_answer="ok", **kwargs):
        return _Connector(cls, url, origin, headers, invite_answer, kwargs)

    # ------------------------------------------------------------ requests

    async def send_json(self, obj):
        # orjson: frames carry SDPs of a few KB, which json takes ten times longer over.
        await self.ws.send(orjson.dumps(obj).decode())

    async def request(self, cls, subclass, cmd, data=None, timeout=10):
        """Send a request and return its response's data, or raise ClientError."""
        tid = next(self.tids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[tid] = future
        msg = {"class": cls, "subclass": subclass, "cmd": cmd, "tid": tid}
        if data is not None:
            msg["data"] = data
        await self.send_json(msg)
        try:
            response = await asyncio.wait_for(future, timeout)
        finally:
            self.waiting.pop(tid, None)
        if response["result"] == "error":
            raise ClientError(response["data"]["code"], response["data"]["error"])
        return response.get("data", {})

    async def login(self, user, **fields):
        data = await self.request("core", "user", "login", {"user": user, **fields})
        self.session_id = data["session_id"]
        return self.session_id

    async def call(self, cmd, **data):
        return await self.request("media", "call", cmd, data)

    async def respond(self, tid, data=None, error=None):
        if error is not None:
            await self.send_json({"result": "error", "tid": tid, "data": error})
        else:
            await self.send_json({"result": "ok", "tid": tid, **({"data": data} if data else {})})

    # ------------------------------------------------------------ what the server sends

    async def next_event(self, type_=None, timeout=10):
        """The next event (its data), skipping those of other types when `type_` is given."""
        while True:
            event = await asyncio.wait_for(self.events.get(), timeout)
            if type_ is None or event["type"] == type_:
                return event

    async def next_invite(self, timeout=10):
        return await asyncio.wait_for(self.invites.get(), timeout)

    async def no_event(self, within=0.5):
        """Assert-helper: return the event if one arrives within `within` seconds, else None."""
        try:
            return await asyncio.wait_for(self.events.get(), within)
        except asyncio.TimeoutError:
            return None

    async def _read(self):
        try:
            async for text in self.ws:
                msg = orjson.loads(text)
                if "result" in msg:
                    future = self.waiting.get(msg.get("tid"))
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif "cmd" in msg:
                    await self._server_request(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self.ws.close_code)
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def _server_request(self, msg):
        key = (msg["class"], msg.get("subclass", "core"), msg["cmd"])
        if key == ("media", "call", "invite"):
            self.invites.put_nowait(msg)
        if key == ("core", "core", "ping"):
            if self.answer_pings:
                await self.respond(msg["tid"])
        elif key == ("core", "core", "event"):
            self.events.put_nowait(msg["data"])
            await self.respond(msg["tid"])
        elif key == ("media", "call", "invite"):
            answer = self.invite_answer
            if answer == "ok":
                await self.respond(msg["tid"])
            elif answer == "error":
                await self.respond(msg["tid"], error={"code": 305003, "error": "Call rejected"})
            elif isinstance(answer, dict):
                await self.respond(msg["tid"], answer)
        else:
            self.server_requests.put_nowait(msg)

    async def close(self):
        await self.ws.close()
        await asyncio.wait_for(asyncio.shield(self.closed), 5)
        self.reader.cancel()


class _Connector:
    """`async with SignalingClient.connect(...)` and `await SignalingClient.connect(...)`."""

    def __init__(self, cls, url, origin, headers, invite_answer, kwargs):
        self.args = (cls, url, origin, headers, invite_answer, kwargs)
        self.client = None

    async def _open(self):
        cls, url, origin, headers, invite_answer, kwargs = self.args
        ws = await websockets.connect(
            url, origin=origin, additional_headers=headers, max_size=None, **kwargs
        )
        return cls(ws, invite_answer)

    def __await__(self):
        return self._open().__await__()

    async def __aenter__(self):
        self.client = await self._open()
        return self.client

    async def __aexit__(self, *exc):
        await self.client.close()

"""The WebSocket runtime: frames in, protocol layer, handlers, frames out.

One consumer per connection. It answers every request, sends server requests
(events, pings, invites, relayed commands) and waits for their answers without
ever blocking on another consumer: replies come back as channel-layer messages.
"""

import asyncio
import functools
import itertools
import logging
import time
import uuid

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from django.db import connections

from . import protocol as p
from . import lean_connections, websocket_fast_path
from .call_commands import CallCommands
from .conf import calls_settings
from .core_commands import CoreCommands
from .daphne_compat import (
    allow_protocol_close_codes, plain_autobahn_log_arguments, run_detached,
    stop_every_application_at_shutdown, unmask_frames_in_c,
)
from .pings import ping_wheel
from .runtime import DEFERRED, db

log = logging.getLogger(__name__)

# Commands allowed before login.
PRE_LOGIN = {("core", "core", "ping"), ("core", "user", "login")}

CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG = 1000, 1008, 1009
PING_DUE = {"type": "ping.due"}  # one for all connections: messages are never changed
allow_protocol_close_codes()
plain_autobahn_log_arguments()
stop_every_application_at_shutdown()
unmask_frames_in_c()
websocket_fast_path.install()
lean_connections.install()


async def _pump(source, inbox):
    while True:
        inbox.put_nowait(await source())


def _feed_directly(receive, inbox):
    """Make the server put the client's messages straight into `inbox`; True if it could.

    daphne (like channels' test communicator) hands each application an
    asyncio.Queue's `get` as `receive` and puts every frame on that queue: the
    queue then feeds our inbox itself, with no task in between to wake per frame.
    """
    queue = getattr(receive, "__self__", None)
    if type(queue) is not asyncio.Queue or getattr(receive, "__func__", None) is not asyncio.Queue.get:
        return False
    while not queue.empty():  # what arrived before we started (websocket.connect)
        inbox.put_nowait(queue.get_nowait())
    queue.__class__ = InboxFeed
    vars(queue).clear()
    queue.inbox = inbox
    return True


class InboxFeed(asyncio.Queue):
    """A server's input queue once it feeds a consumer's inbox (see `_feed_directly`).

    What is put on it goes straight to the inbox. It keeps nothing of its own: an
    asyncio.Queue holds four deques (its items, getters, putters and its Event's
    waiters) of about 750 bytes each even when empty, a tenth of what an idle
    connection costs, and nothing reads them any more.
    """

    def put_nowait(self, item):
        self.inbox.put_nowait(item)

    async def put(self, item):
        self.inbox.put_nowait(item)

    def qsize(self):
        return 0

    def empty(self):
        return True

    def full(self):
        return False

    def get_nowait(self):
        raise asyncio.QueueEmpty

    async def get(self):
        raise RuntimeError("this queue feeds a consumer's inbox: it has nothing to get")

    def __repr__(self):  # asyncio.Queue's would read the attributes dropped here
        return f"<{type(self).__name__} at {id(self):#x} feeding an inbox of {self.inbox.qsize()}>"


def _text_sender(send):
    """An async function sending one text frame, given as UTF-8 bytes, the shortest way."""
    direct = websocket_fast_path.text_sender(send)
    if direct is not None:
        return direct

    async def send_text(data):
        await send({"type": "websocket.send", "text": data.decode()})

    return send_text


def _without_session_wrapper(send):
    """The server's own `send` under channels' session middleware.

    Its wrapper saves the session on HTTP responses; for a WebSocket message it
    only looks at the session (a few per cent of a call's CPU), and it keeps a
    copy of the scope for as long as the connection lives.
    """
    wrapper = getattr(send, "__self__", None)
    return wrapper.real_send if isinstance(wrapper, InstanceSessionWrapper) else send


class Inbox:
    """The messages a connection has yet to handle, and at most one waiter.

    What the consumer needs of an asyncio.Queue, in a fraction of its memory (a
    Queue keeps four deques of 600 bytes): thousands of idle connections each
    have one. It seldom holds more than a few messages, so a list will do.
    """

    __slots__ = ("items", "waiter")

    def __init__(self):
        self.items = []
        self.waiter = None

    def qsize(self):
        return len(self.items)

    def put_nowait(self, message):
        self.items.append(message)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def wait(self):
        """A future that is done once a message is put (await it while the inbox is empty)."""
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    async def get(self):
        while not self.items:
            await self.wait()
        return self.items.pop(0)


class RateLimiter:
    """Token bucket: `rate` requests per second with bursts up to `burst`."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Pending:
    """A server request waiting for the client's answer."""

    __slots__ = ("kind", "info", "timer")

    def __init__(self, kind, info, timer):
        self.kind, self.info, self.timer = kind, info, timer


class SignalingConsumer(CoreCommands, CallCommands, AsyncWebsocketConsumer):
    """One WebSocket connection speaking the call-signaling protocol."""

    HANDLERS = {**CoreCommands.HANDLERS, **CallCommands.HANDLERS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_pk = None  # set at login; the user object itself is not kept
        self.username = None
        self.session_id = None
        self.is_staff = False
        self.registration_id = None
        self.closing = False
        self.ending = None  # the task ending the session, once started
        self.bad_frames = 0
        self.login_failures = 0
        self.server_tids = itertools.count(1)
        self.pending = {}  # server tid -> Pending
        self.limiter = None
        self.ping_slot = None  # in this process's ping wheel
        self.unanswered_pings = 0
        self.init_calls()
        self.init_core()

    # ------------------------------------------------------------ lifecycle

    async def dispatch(self, message):
        """Run the handler of a message; no handler error ever ends the connection.

        Unlike channels' own dispatch, this does not hop to a thread before every
        message to close old database connections: our database calls do that.
        """
        kind = message.get("type")
        handler = getattr(self, kind.replace(".", "_"), None) if isinstance(kind, str) else None
        if handler is None:  # e.g. a site's message sent to the session's channel
            log.warning("no handler for %r", kind)
            return
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            log.exception("error handling %s", message["type"])

    async def websocket_connect(self, message):
        """The client opened the connection."""
        s = calls_settings
        self.limiter = RateLimiter(s.RATE_LIMIT, s.RATE_BURST)
        await self.accept()
        self.arm_ping()

    async def __call__(self, scope, receive, send):
        """Run the connection: every message, from the client or the channel layer, in order.

        channels' own loop (`await_many_dispatch`) makes a task and an `asyncio.wait`
        per message; here everything lands in one inbox: daphne's queue and our
        layers put messages in it directly (elsewhere a pump task per source
        does), which costs a good deal less on every frame and event.

        Under daphne the connection then runs in a task of its own and this call
        returns: the frames of every middleware above it (channels' session, auth
        and routing layers, each with its copy of the scope) would otherwise stay
        alive as long as the connection, a fifth of what an idle session costs.
        """
        send = _without_session_wrapper(send)
        self.scope, self.base_send, self.send_text = scope, send, _text_sender(send)
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        inbox = Inbox()
        pumps = [] if _feed_directly(receive, inbox) else [asyncio.ensure_future(_pump(receive, inbox))]
        attach = getattr(self.channel_layer, "attach", None)
        if attach is None or not attach(self.channel_name, inbox):
            receive_channel = functools.partial(self.channel_layer.receive, self.channel_name)
            pumps.append(asyncio.ensure_future(_pump(receive_channel, inbox)))
        run = self._run(inbox, pumps, attach is not None)
        if not pumps and websocket_fast_path.is_daphne_send(send):
            run_detached(run)
            return
        # In a task of its own: resumed after each message, the loop would otherwise
        # first pass through the coroutine frame of every middleware.
        await asyncio.ensure_future(run)

    async def _run(self, inbox, pumps, attached):
        try:
            await self._dispatch_forever(inbox)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # The server is shutting down: daphne cancels every application and
            # waits for them. Our calls end with 100001 before we go (or, if the
            # client had just gone, the cleanup under way finishes).
            await self.finish_session(shutdown=not self.closing)
            # Close the database thread's connections before the process exits.
            await db(connections.close_all)()
            raise
        except Exception:
            # A fault of ours outside the handlers (dispatch catches theirs): the
            # client is told (1011) and its session ends as if it had gone.
            log.exception("connection %s failed", self.session_id or self.channel_name)
            await self.close_with(1011)
            await self.finish_session()
        finally:
            self.cancel_ping()
            for pump in pumps:
                pump.cancel()
            if attached:
                self.channel_layer.detach(self.channel_name)

    async def _dispatch_forever(self, inbox):
        items = inbox.items
        while True:
            while not items:  # inbox.get inlined: no coroutine to make per wait, nor keep while idle
                await inbox.wait()
            await self.dispatch(items.pop(0))

    async def websocket_disconnect(self, message):
        """The connection closed: end this session's calls, close its registration."""
        await self.finish_session()
        raise StopConsumer()

    def finish_session(self, shutdown=False):
        """end_session, once, in a task of its own that a shutdown's cancel cannot cut short."""
        if self.ending is None:
            self.ending = asyncio.ensure_future(self.end_session(shutdown))
        return asyncio.shield(self.ending)

    async def end_session(self, shutdown=False):
        # On shutdown the socket is still open: our client can still be told.
        self.closing = not shutdown
        self.cancel_ping()
        for pending in self.pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        try:
            await self.session_gone(shutdown)
        except Exception:
            log.exception("error cleaning up session %s", self.session_id)
        self.closing = True

    async def close_with(self, code):
        if not self.closing:
            self.closing = True
            await self.close(code)

    # ------------------------------------------------------------ frames in

    async def websocket_receive(self, message):
        """A frame arrived from the client."""
        if self.closing:
            return
        text = message.get("text")
        if text is None:
            return await self.bad_frame(p.syntax_error("binary frames are not supported"))
        limit = calls_settings.MAX_FRAME_BYTES
        if len(text) > limit // 4 and len(text.encode()) > limit:
            return await self.refuse_oversize(text)
        try:
            msg = p.parse_frame(text)
        except p.ProtocolError as exc:
            return await self.bad_frame(exc)
        if isinstance(msg, p.Request):
            if not self.limiter.allow():
                log.warning("closing %s: over the rate limit", self.session_id or "connection")
                return await self.close_with(CLOSE_POLICY)
            await self.handle_request(msg)
        else:
            self.bad_frames = 0
            await self.handle_answer(msg)

    async def refuse_oversize(self, text):
        tid = None
        try:
            tid = p.parse_frame(text).tid
        except p.ProtocolError:
            pass
        await self.send_frame(p.error(tid, 100046, "Invalid value: frame too large"))
        await self.close_with(CLOSE_TOO_BIG)

    async def bad_frame(self, exc):
        await self.send_frame(p.error_from(exc))
        self.bad_frames += 1
        if self.bad_frames > calls_settings.MAX_BAD_FRAMES:
            await self.close_with(CLOSE_POLICY)

    async def handle_request(self, req):
        try:
            if self.user_pk is None and req.key not in PRE_LOGIN:
                raise p.ProtocolError(100031, tid=req.tid)
            data = p.validate(req)
            result = await getattr(self, self.HANDLERS[req.key])(req, data)
        except p.ProtocolError as exc:
            exc.tid = req.tid
            if exc.code in p.BAD_FRAME_CODES:
                return await self.bad_frame(exc)
            self.bad_frames = 0
            return await self.send_frame(p.error_from(exc))
        except StopConsumer:
            raise
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("internal error %s on %s", ref, req.name)
            return await self.send_frame(p.error(req.tid, 100002, f"Internal error (ref {ref})"))
        self.bad_frames = 0
        if result is not DEFERRED:
            await self.send_frame(p.ok(req.tid, result))

    # ------------------------------------------------------------ frames out

    async def send_frame(self, obj):
        if not self.closing:
            await self.send_text(p.encode(obj))

    async def send_request(self, cls, subclass, cmd, data, kind=None, info=None):
        """Send a server request; with `kind`, wait for its answer (see `handle_answer`)."""
        tid = next(self.server_tids)
        if kind is not None:
            timer = self.arm_timeout(tid, calls_settings.REQUEST_TIMEOUT)
            self.pending[tid] = Pending(kind, info, timer)
        await self.send_frame(p.request(tid, cls, subclass, cmd, data))
        return tid

    async def send_event(self, data):
        """Send an event to the client; its answer is not waited for."""
        await self.send_request("core", "core", "event", data)

    def arm_timeout(self, tid, delay):
        loop = asyncio.get_running_loop()
        return loop.call_later(delay, self.post_to_self, {"type": "request.timeout", "tid": tid})

    def post_to_self(self, message):
        """Feed a message to this consumer through its own queue, in order with the rest."""
        if not self.closing:
            asyncio.ensure_future(self.channel_layer.send(self.channel_name, message))

    async def handle_answer(self, msg):
        """A response or ack from the client to one of our requests."""
        pending = self.pending.get(msg.tid)
        if pending is None:
            return  # unknown or already timed out: ignored
        pending.timer.cancel()
        if isinstance(msg, p.Ack):
            pending.timer = self.arm_timeout(msg.tid, calls_settings.ACK_TIMEOUT)
            return await self.on_request_acked(pending)
        del self.pending[msg.tid]
        await self.on_request_answered(pending, msg)

    async def request_timeout(self, message):
        """A server request got no answer in time."""
        pending = self.pending.pop(message["tid"], None)
        if pending is not None:
            await self.on_request_answered(pending, None)

    async def on_request_answered(self, pending, response):
        """Route the answer (None on timeout) of a server request to its kind's handler."""
        if pending.kind == "ping":
            if response is not None:
                self.unanswered_pings = 0
        elif pending.kind == "invite":
            await self.invite_answered(pending.info, response)
        elif pending.kind == "relay":
            await self.relay_answered(pending.info, response)

    async def on_request_acked(self, pending):
        if pending.kind == "relay":
            await self.relay_acked(pending.info)

    # ------------------------------------------------------------ pings

    def arm_ping(self):
        self.ping_slot = ping_wheel().schedule(self, calls_settings.PING_INTERVAL)

    def cancel_ping(self):
        if self.ping_slot is not None:
            ping_wheel().cancel(self, self.ping_slot)
            self.ping_slot = None

    def ping_due_now(self):
        """The ping wheel's call: a ping is due (handled in order with our other messages)."""
        self.ping_slot = None
        self.post_to_self(PING_DUE)

    async def ping_due(self, message):
        """Time to ping the client; two unanswered in a row close the connection."""
        if self.unanswered_pings >= 2:
            log.info("closing %s: pings unanswered", self.session_id or "connection")
            return await self.close_with(CLOSE_POLICY)
        self.unanswered_pings += 1
        await self.send_request("core", "core", "ping", {"time": int(time.time())}, kind="ping")
        self.arm_ping()

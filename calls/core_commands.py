"""Core commands of the protocol (PROTOCOL.md §4-5): login, users, sessions, events."""

import asyncio
import contextlib
import logging
import uuid

from channels.exceptions import ChannelFull
from django.contrib.auth import authenticate

from registrations import selectors as registrations
from registrations import services as registration_services

from . import events, presence
from . import protocol as p
from .conf import calls_settings
from .runtime import DEFERRED, db, seen_recently
from .selectors import call_parties, live_call_owner
from .subscriptions import SubscriptionSet, call_keys

log = logging.getLogger(__name__)

STAFF_ONLY_CLASSES = ("core", "media")


# What a logged-in session keeps of its connection's scope.
SCOPE_KEPT = ("type", "path", "client", "server", "url_route")


def where_from(scope):
    """The part of a connection's scope that says where it came from.

    Login is the last reader of the rest: the request's headers and cookies, the
    site's session and user. A long-lived session held them all (about 2 KB
    with the benchmark client's few headers, more for a browser sending cookies
    and a resolved user).
    """
    return {key: scope[key] for key in SCOPE_KEPT if key in scope}


def check_credentials(scope_user, username, password, token):
    """The user these login credentials prove, or None."""
    if token is not None:
        from rest_framework.authtoken.models import Token

        found = Token.objects.select_related("user").filter(key=token).first()
        user = found.user if found else None
    elif password is not None:
        user = authenticate(None, username=username, password=password)
    else:
        user = scope_user if scope_user is not None and scope_user.is_authenticated else None
    if user is None or not user.is_active or user.get_username() != username:
        return None
    return user


def _session_info(registration, full):
    info = {"protocol": registration.protocol}
    if full:
        info.update(remote=registration.remote, meta=registration.meta)
    return info


class CoreCommands:
    """Login, presence, sessions, subscriptions and events, for SignalingConsumer."""

    HANDLERS = {
        ("core", "core", "ping"): "on_ping",
        ("core", "core", "event"): "on_client_event",
        ("core", "user", "login"): "on_login",
        ("core", "user", "list"): "on_user_list",
        ("core", "user", "get"): "on_user_get",
        ("core", "user", "send_event"): "on_user_send_event",
        ("core", "session", "stop"): "on_session_stop",
        ("core", "session", "send_event"): "on_session_send_event",
        ("core", "session", "cmd"): "on_session_cmd",
        ("core", "event", "subscribe"): "on_subscribe",
        ("core", "event", "unsubscribe"): "on_unsubscribe",
        ("core", "event", "get_subscriptions"): "on_get_subscriptions",
        ("core", "event", "send"): "on_event_send",
    }

    def init_core(self):
        self.subscriptions = SubscriptionSet()
        self.seen_events = {}  # recent event ids, to drop copies from overlapping groups
        self.hung_up_calls = {}  # calls whose hangup this session got: never a second one
        self.relays = {}  # ref -> (tid, timer) of our session/cmd requests in flight

    # ------------------------------------------------------------ login

    async def on_ping(self, req, data):
        return None

    async def on_client_event(self, req, data):
        return None

    async def on_login(self, req, data):
        if self.user_pk is not None:
            raise p.ProtocolError(100032)
        user = await db(check_credentials)(
            self.scope.get("user"), data["user"], data["password"], data["token"]
        )
        if user is None:
            delay = calls_settings.LOGIN_FAILURE_DELAY * 2**self.login_failures
            self.login_failures += 1
            await asyncio.sleep(min(delay, calls_settings.LOGIN_FAILURE_DELAY_MAX))
            raise p.ProtocolError(100030)
        session_id = data["session_id"] or str(uuid.uuid4())
        await presence.ensure_running()
        client = self.scope.get("client") or ["", 0]
        headers = dict(self.scope.get("headers") or [])
        try:
            registration = await db(registration_services.register_session)(
                user=user, session_id=session_id, channel_name=self.channel_name,
                server_id=presence.SERVER_ID, remote=f"{client[0]}:{client[1]}",
                user_agent=headers.get(b"user-agent", b"").decode("latin1"), meta=data["meta"],
            )
        except registration_services.DuplicateSession:
            await self.send_frame(p.error(req.tid, 100034))
            await self.close_with(1008)
            return DEFERRED
        self.user_pk, self.username, self.is_staff = user.pk, user.get_username(), user.is_staff
        self.session_id, self.registration_id = session_id, registration.pk
        self.scope = where_from(self.scope)
        await self.subscribe(("core", "user_event", "*", self.username), {})
        await self.subscribe(("core", "session_event", "*", session_id), {})
        await events.emit(self.channel_layer, events.event_data(
            "core", "registration", "login", session_id,
            {"user": self.username, "session_id": session_id}))
        return {"session_id": session_id}

    async def session_gone(self, shutdown=False):
        """The connection closed (or the server stops): calls first, then the registration and groups."""
        if self.user_pk is None:
            return
        await self.calls_session_gone(shutdown)
        await db(registration_services.close_session)(self.registration_id)
        for group in self.subscriptions.groups():
            await self.channel_layer.group_discard(group, self.channel_name)
        await events.emit(self.channel_layer, events.event_data(
            "core", "registration", "logout", self.session_id,
            {"user": self.username, "session_id": self.session_id}))

    # ------------------------------------------------------------ users and sessions

    async def on_user_list(self, req, data):
        return await db(registrations.online_users)()

    async def on_user_get(self, req, data):
        sessions = await db(registrations.user_sessions)(data["user"])
        if not sessions:
            raise p.ProtocolError(100033)
        full = self.is_staff or data["user"] == self.username
        return {r.session_id: _session_info(r, full) for r in sessions}

    async def on_user_send_event(self, req, data):
        if not await db(registrations.user_is_online)(data["user"]):
            raise p.ProtocolError(100033)
        await events.emit(self.channel_layer, events.event_data(
            "core", "user_event", data["type"], data["user"], data["body"]))

    async def live_session_or_error(self, session_id):
        registration = await db(registrations.live_session)(session_id)
        if registration is None:
            raise p.ProtocolError(100062)
        return registration

    async def on_session_stop(self, req, data):
        target = await self.live_session_or_error(data["session_id"])
        if not self.is_staff and target.user_id != self.user_pk:
            raise p.ProtocolError(100030)
        await self.channel_layer.send(target.channel_name, {"type": "session.stop"})

    async def session_stop(self, message):
        """Someone stopped this session: tell the client, then close (its calls end as on a disconnect)."""
        await self.send_event(events.event_data(
            "core", "session_event", "stop", self.session_id, p.hangup_body(100011)))
        await self.close_with(1000)

    async def on_session_send_event(self, req, data):
        await self.live_session_or_error(data["session_id"])
        await events.emit(self.channel_layer, events.event_data(
            "core", "session_event", data["type"], data["session_id"], data["body"]))

    # ------------------------------------------------------------ session/cmd relay

    async def on_session_cmd(self, req, data):
        target = await self.live_session_or_error(data["session_id"])
        if data["class"] in STAFF_ONLY_CLASSES and not self.is_staff:
            raise p.ProtocolError(100030)
        ref = next(self.server_tids)  # unique among this consumer's refs too
        timer = self.arm_relay_timer(ref, calls_settings.REQUEST_TIMEOUT)
        self.relays[ref] = (req.tid, timer)
        await self.channel_layer.send(target.channel_name, {
            "type": "session.request", "reply_to": self.channel_name, "ref": ref,
            "request": [data["class"], data["subclass"], data["cmd"], data["data"]],
        })
        return DEFERRED

    def arm_relay_timer(self, ref, delay):
        # A little longer than the target's own wait, which answers 100005 itself.
        loop = asyncio.get_running_loop()
        return loop.call_later(delay + 1, self.post_to_self, {"type": "session.reply", "ref": ref,
                                                              "result": "timeout"})

    async def session_request(self, message):
        """Another session relays a request to our client."""
        cls, subclass, cmd, data = message["request"]
        info = (message["reply_to"], message["ref"])
        await self.send_request(cls, subclass, cmd, data, kind="relay", info=info)

    async def relay_answered(self, info, response):
        reply_to, ref = info
        if response is None:
            reply = {"result": "timeout"}
        else:
            reply = {"result": "ok" if response.ok else "error", "data": response.data}
        await self.channel_layer.send(reply_to, {"type": "session.reply", "ref": ref, **reply})

    async def relay_acked(self, info):
        reply_to, ref = info
        await self.channel_layer.send(reply_to, {"type": "session.ack", "ref": ref})

    async def session_ack(self, message):
        """The target's client acked our relayed request: pass the ack on, wait longer."""
        entry = self.relays.get(message["ref"])
        if entry is None:
            return
        tid, timer = entry
        timer.cancel()
        self.relays[message["ref"]] = (tid, self.arm_relay_timer(message["ref"], calls_settings.ACK_TIMEOUT))
        await self.send_frame(p.ack(tid))

    async def session_reply(self, message):
        """The answer to our relayed request (or its timeout)."""
        entry = self.relays.pop(message["ref"], None)
        if entry is None:
            return
        tid, timer = entry
        timer.cancel()
        if message["result"] == "timeout":
            return await self.send_frame(p.error(tid, 100005))
        data = message.get("data") or {}
        if message["result"] == "ok":
            return await self.send_frame(p.ok(tid, data))
        code = data.get("code") if isinstance(data.get("code"), int) else 305001
        await self.send_frame(p.error(tid, code, str(data.get("error", p.ERRORS.get(code, "")))))

    # ------------------------------------------------------------ subscriptions and events

    async def subscribe(self, keys, body):
        group = self.subscriptions.add(keys, body)
        if group is not None:
            await self.channel_layer.group_add(group, self.channel_name)

    async def unsubscribe(self, keys):
        group = self.subscriptions.remove(keys)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def may_subscribe(self, keys):
        """Raise unless this session may subscribe to events with these keys (PROTOCOL §5)."""
        if self.is_staff:
            return
        cls, subclass, _, obj_id = keys
        if cls == "core":
            own = {("user_event", self.username), ("session_event", self.session_id)}
            if (subclass, obj_id) not in own:
                raise p.ProtocolError(100030)
        elif cls == "media":
            if subclass != "call" or obj_id == "*":
                raise p.ProtocolError(100030)
            if not self.knows_call(obj_id):
                found = await db(call_parties)(obj_id)
                if found is None or not found[0]:
                    raise p.ProtocolError(305002)
                if self.username not in found[1]:
                    raise p.ProtocolError(100030)
        elif cls == "*":
            raise p.ProtocolError(100030)

    async def on_subscribe(self, req, data):
        keys = (data["class"], data["subclass"], data["type"], data["obj_id"])
        await self.may_subscribe(keys)
        await self.subscribe(keys, data["body"])

    async def on_unsubscribe(self, req, data):
        await self.unsubscribe((data["class"], data["subclass"], data["type"], data["obj_id"]))

    async def on_get_subscriptions(self, req, data):
        return self.subscriptions.as_list()

    async def on_event_send(self, req, data):
        if data["class"] in STAFF_ONLY_CLASSES + ("*",) and not self.is_staff:
            raise p.ProtocolError(100030)
        message = events.event_message(events.event_data(
            data["class"], data["subclass"], data["type"], data["obj_id"], data["body"]))
        await events.send_event_message(self.channel_layer, message)
        if data["class"] == "media" and data["subclass"] == "call":
            # A call's parties are subscribed through its owner (held): it passes the event on.
            owner = await db(live_call_owner)(data["obj_id"])
            if owner:
                with contextlib.suppress(ChannelFull):  # that owner stopped reading: its parties too
                    await self.channel_layer.send(owner, {"type": "call.event", "message": message})

    async def event_deliver(self, message):
        """An event reached one of our groups: pass it on if a subscription matches."""
        if not seen_recently(self.seen_events, message["id"]):
            await self.deliver_event(message["event"])

    async def deliver_event(self, ev):
        """Send an event to our client if a subscription matches, with the merged body."""
        body = self.subscriptions.match(
            (ev["class"], ev["subclass"], ev["type"], ev["obj_id"]), ev["body"]
        )
        if body is None:
            return
        call_hangup = ev["type"] == "hangup" and ev["class"] == "media" and ev["subclass"] == "call"
        if call_hangup:
            if seen_recently(self.hung_up_calls, ev["obj_id"]):
                return
            self.forget_call(ev["obj_id"])
        await self.send_event({**ev, "body": body})
        if call_hangup:  # the call is over: its subscription (from start or answered) goes
            await self.unsubscribe(call_keys(ev["obj_id"]))

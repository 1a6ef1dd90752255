"""The consumer through channels' WebsocketCommunicator (no server process)."""

import asyncio
import contextlib
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.routing import websocket_urlpatterns
from calls.security import signaling_websocket

from ..conftest import PASSWORD
from ..e2e.helpers import unique

APP = signaling_websocket(URLRouter(websocket_urlpatterns))


async def connect(headers=None):
    communicator = WebsocketCommunicator(APP, "/ws/", headers=headers or [])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def ask(communicator, cls, subclass, cmd, data=None, tid=1):
    await communicator.send_to(text_data=json.dumps(
        {"class": cls, "subclass": subclass, "cmd": cmd, "data": data or {}, "tid": tid}))
    return json.loads(await communicator.receive_from(timeout=5))


async def login(communicator, user):
    answer = await ask(communicator, "core", "user", "login",
                       {"user": user, "password": PASSWORD, "session_id": unique(user)})
    assert answer["result"] == "ok", answer
    return answer["data"]["session_id"]


async def channel_of(session_id):
    """The channel-layer name of a logged-in session's consumer."""
    from registrations.models import Registration

    return await database_sync_to_async(
        Registration.objects.filter(session_id=session_id).values_list("channel_name", flat=True).get)()


async def call_answered(a, b):
    """a calls bob (logged in on b), b accepts the invite and answers; a hears the answer."""
    started = await ask(a, "media", "call", "start", {"callee": "bob"})
    call_id = started["data"]["call_id"]
    invite = json.loads(await b.receive_from(timeout=5))
    assert (invite["cmd"], invite["data"]["call_id"]) == ("invite", call_id)
    await b.send_to(text_data=json.dumps({"result": "ok", "tid": invite["tid"]}))
    answered = await ask(b, "media", "call", "answered", {"call_id": call_id}, tid=2)
    assert answered == {"result": "ok", "tid": 2}
    event = json.loads(await a.receive_from(timeout=5))
    assert (event["cmd"], event["data"]["type"]) == ("event", "answer")
    return call_id


async def test_ping_before_login_and_not_authenticated(live_db):
    c = await connect()
    assert await ask(c, "core", "core", "ping") == {"result": "ok", "tid": 1}
    answer = await ask(c, "core", "user", "list", tid="t2")
    assert answer == {"result": "error", "tid": "t2",
                      "data": {"code": 100031, "error": "Not authenticated"}}
    await c.disconnect()


async def test_login_then_list_and_duplicate_login(live_db):
    c = await connect()
    session_id = await login(c, "alice")
    online = await ask(c, "core", "user", "list")
    assert session_id in online["data"]["alice"]
    again = await ask(c, "core", "user", "login", {"user": "alice", "password": PASSWORD})
    assert again["data"]["code"] == 100032
    await c.disconnect()


async def test_origin_refused_and_absent_origin_accepted(live_db):
    refused = WebsocketCommunicator(APP, "/ws/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await refused.connect()
    assert not connected
    allowed = WebsocketCommunicator(APP, "/ws/", headers=[(b"origin", b"http://localhost:8000")])
    assert (await allowed.connect())[0]
    await allowed.disconnect()


async def test_invite_reaches_the_callee_and_the_answer_the_caller(live_db):
    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    call_id = await call_answered(a, b)
    await a.disconnect()
    hangup = json.loads(await b.receive_from(timeout=5))
    assert hangup["data"]["body"] == {"code": 305009, "reason": "Caller stopped"}
    await b.disconnect()


async def test_the_server_names_calls_in_the_order_they_start(live_db):
    """Ids made by the server are time-ordered UUIDs (version 7): new calls go to the end
    of the history's call_id index."""
    a = await connect()
    await login(a, "alice")
    ids = []
    for tid in range(1, 4):  # no one to call: each call ends at once, told after its `ok`
        ids.append((await ask(a, "media", "call", "start", {"callee": "nobody-online"}, tid=tid))["data"]["call_id"])
        ended = json.loads(await a.receive_from(timeout=5))
        assert (ended["data"]["type"], ended["data"]["obj_id"]) == ("hangup", ids[-1])
    assert [uuid.UUID(call_id).version for call_id in ids] == [7, 7, 7]
    assert ids == sorted(ids) and len(set(ids)) == 3
    await a.disconnect()


async def test_the_owner_sends_nothing_to_an_answering_session_that_left(live_db):
    from channels.layers import get_channel_layer

    a, b = await connect(), await connect()
    await login(a, "alice")
    channel = await channel_of(await login(b, "bob"))
    await call_answered(a, b)
    await b.disconnect()
    hangup = json.loads(await a.receive_from(timeout=5))
    assert hangup["data"]["body"] == {"code": 305010, "reason": "Callee stopped"}
    assert channel not in get_channel_layer().channels  # its hangup event was not queued for nobody
    await a.disconnect()


@pytest.mark.parametrize("frame, code", [("nope", 100044), ('{"class":"core","cmd":"x","tid":1}', 100031)])
async def test_bad_frames(live_db, frame, code):
    c = await connect()
    await c.send_to(text_data=frame)
    assert json.loads(await c.receive_from())["data"]["code"] == code
    await c.send_to(bytes_data=b"\x00")
    assert json.loads(await c.receive_from())["data"]["code"] == 100044
    await c.disconnect()


async def test_two_unanswered_pings_close_the_connection(live_db, settings):
    settings.CALLS = {"PING_INTERVAL": 0.2}
    c = await connect()
    first = json.loads(await c.receive_from(timeout=2))
    assert (first["class"], first["cmd"], set(first["data"])) == ("core", "ping", {"time"})
    await c.send_to(text_data=json.dumps({"result": "ok", "tid": first["tid"]}))  # answered
    second = json.loads(await c.receive_from(timeout=2))
    third = json.loads(await c.receive_from(timeout=2))
    assert second["cmd"] == third["cmd"] == "ping"  # two in a row unanswered...
    assert (await c.receive_output(timeout=2)) == {"type": "websocket.close", "code": 1008}


async def test_an_ack_extends_the_wait_for_an_invite_answer(live_db, settings):
    settings.CALLS = {"REQUEST_TIMEOUT": 0.3, "ACK_TIMEOUT": 1.5, "PING_INTERVAL": 60}
    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    call_id = (await ask(a, "media", "call", "start", {"callee": "bob"}))["data"]["call_id"]
    invite = json.loads(await b.receive_from(timeout=5))
    await b.send_to(text_data=json.dumps({"ack": invite["tid"]}))
    assert await b.receive_nothing(timeout=0.8)  # past the 0.3 s plain wait, still invited
    hangup = json.loads(await b.receive_from(timeout=2))  # the 1.5 s after the ack ran out
    assert (hangup["data"]["obj_id"], hangup["data"]["body"]["code"]) == (call_id, 305005)
    event = json.loads(await a.receive_from(timeout=2))
    assert event["data"]["body"] == {"code": 305005, "reason": "No answer"}
    await a.disconnect()
    await b.disconnect()


async def test_server_shutdown_ends_owned_calls_with_normal_termination(live_db):
    from calls.models import Call

    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    call_id = (await ask(a, "media", "call", "start", {"callee": "bob"}))["data"]["call_id"]
    invite = json.loads(await b.receive_from(timeout=5))
    await b.send_to(text_data=json.dumps({"result": "ok", "tid": invite["tid"]}))
    assert (await ask(b, "media", "call", "answered", {"call_id": call_id}, tid=2))["result"] == "ok"
    assert json.loads(await a.receive_from(timeout=5))["data"]["type"] == "answer"
    a.future.cancel()  # what daphne does to every application when the server stops
    hangup = json.loads(await a.receive_from(timeout=5))
    assert hangup["data"]["body"] == {"code": 100001, "reason": "Normal termination"}
    event = json.loads(await b.receive_from(timeout=5))
    assert event["data"]["body"] == {"code": 100001, "reason": "Normal termination"}
    call = await database_sync_to_async(Call.objects.get)(call_id=call_id)
    assert (call.state, call.hangup_code) == ("ended", 100001)
    await b.disconnect()



async def test_a_destination_whose_channel_is_full_fails_alone(live_db):
    """A session that stopped reading (its process hung or died) costs only its own leg."""
    from channels.layers import get_channel_layer
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from calls import presence
    from calls.models import CallLeg
    from registrations.models import Registration

    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    layer = get_channel_layer()
    stuck = await layer.new_channel()
    for _ in range(layer.get_capacity(stuck)):
        await layer.send(stuck, {"type": "never.read"})
    bob = await database_sync_to_async(get_user_model().objects.get)(username="bob")
    now = timezone.now()
    stuck_session = await database_sync_to_async(Registration.objects.create)(
        user=bob, session_id=unique("stuck"), channel_name=stuck, server_id=presence.SERVER_ID,
        connected_at=now, last_seen_at=now,
    )
    try:
        call_id = await call_answered(a, b)
        await a.disconnect()  # the call ends; its record is complete before its hangup is told
        hangup = json.loads(await b.receive_from(timeout=5))
        assert hangup["data"]["type"] == "hangup"
        legs = await database_sync_to_async(lambda: dict(
            CallLeg.objects.filter(call__call_id=call_id).values_list("session_id", "state")))()
        assert legs.pop(stuck_session.session_id) == "failed"
        assert list(legs.values()) == ["answered"]
    finally:
        await database_sync_to_async(Registration.objects.filter(pk=stuck_session.pk).update)(
            disconnected_at=timezone.now())
        await a.disconnect()
        await b.disconnect()


async def test_a_shutdown_during_a_disconnect_lets_the_cleanup_finish(live_db):
    from registrations.models import Registration

    c = await connect()
    session_id = await login(c, "alice")
    await c.send_input({"type": "websocket.disconnect", "code": 1000})
    for _ in range(3):  # the consumer starts its cleanup (calls, then the registration)
        await asyncio.sleep(0)
    c.future.cancel()  # what daphne does to every application when the server stops
    with contextlib.suppress(asyncio.CancelledError):
        await c.future
    live = await database_sync_to_async(Registration.objects.filter(
        session_id=session_id, disconnected_at=None).count)()
    assert live == 0


@contextlib.contextmanager
def new_calls_written(monkeypatch, fail=False):
    """Hold the history writer's writes of new calls until released (or make them fail)."""
    import threading

    from calls import services

    release = threading.Event()
    write = services.record_call_starts

    def held(starts):  # on the writer's thread
        release.wait(5)
        if fail:
            raise RuntimeError("the database is gone")
        write(starts)

    monkeypatch.setattr(services, "record_call_starts", held)
    try:
        yield release
    finally:
        release.set()


async def test_destinations_ring_while_the_call_is_written(live_db, monkeypatch):
    """The invite goes out before the call's write commits; the caller hears nothing before its ok."""
    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    with new_calls_written(monkeypatch) as release:
        await a.send_to(text_data=json.dumps(
            {"class": "media", "subclass": "call", "cmd": "start", "data": {"callee": "bob"}, "tid": 1}))
        invite = json.loads(await b.receive_from(timeout=5))
        assert invite["cmd"] == "invite"
        await b.send_to(text_data=json.dumps({"result": "ok", "tid": invite["tid"]}))
        await b.send_to(text_data=json.dumps({"class": "media", "subclass": "call", "cmd": "ringing",
                                              "data": {"call_id": invite["data"]["call_id"]}, "tid": 2}))
        assert await a.receive_nothing(timeout=0.3)
        release.set()
        started = json.loads(await a.receive_from(timeout=5))
        assert started == {"result": "ok", "tid": 1, "data": {"call_id": invite["data"]["call_id"]}}
        ringing = json.loads(await a.receive_from(timeout=5))
        assert (ringing["cmd"], ringing["data"]["type"]) == ("event", "ringing")
        assert json.loads(await b.receive_from(timeout=5)) == {"result": "ok", "tid": 2}
    await a.disconnect()
    await b.disconnect()


async def test_a_call_that_cannot_be_written_is_withdrawn(live_db, monkeypatch):
    """The caller gets an error for its start, the destination a hangup; nothing is left."""
    from calls.models import Call

    a, b = await connect(), await connect()
    await login(a, "alice")
    await login(b, "bob")
    with new_calls_written(monkeypatch, fail=True) as release:
        await a.send_to(text_data=json.dumps(
            {"class": "media", "subclass": "call", "cmd": "start", "data": {"callee": "bob"}, "tid": 1}))
        invite = json.loads(await b.receive_from(timeout=5))
        await b.send_to(text_data=json.dumps({"result": "ok", "tid": invite["tid"]}))
        release.set()
        started = json.loads(await a.receive_from(timeout=5))
        assert (started["result"], started["data"]["code"]) == ("error", 100002)
        hangup = json.loads(await b.receive_from(timeout=5))
        assert (hangup["data"]["type"], hangup["data"]["obj_id"]) == ("hangup", invite["data"]["call_id"])
        assert hangup["data"]["body"] == {"code": 100002, "reason": "Internal error"}
    assert await a.receive_nothing(timeout=0.3)
    assert not await database_sync_to_async(Call.objects.filter(call_id=invite["data"]["call_id"]).exists)()
    subscriptions = await ask(a, "core", "event", "get_subscriptions", tid=3)
    assert all(s.get("obj_id") != invite["data"]["call_id"] for s in subscriptions["data"])
    await a.disconnect()
    await b.disconnect()


async def test_a_channel_message_without_a_type_is_ignored(live_db):
    from channels.layers import get_channel_layer

    c = await connect()
    channel = await channel_of(await login(c, "alice"))
    await get_channel_layer().send(channel, {"no type": "at all"})
    assert await ask(c, "core", "core", "ping", tid=2) == {"result": "ok", "tid": 2}
    await c.disconnect()


async def test_a_fault_outside_the_handlers_closes_with_1011_and_ends_the_session(live_db, monkeypatch):
    from channels.layers import get_channel_layer

    from calls.consumer import SignalingConsumer
    from registrations.models import Registration

    dispatch = SignalingConsumer.dispatch

    async def faulty_dispatch(self, message):
        if message.get("type") == "test.fault":
            raise RuntimeError("a bug of ours")
        await dispatch(self, message)

    monkeypatch.setattr(SignalingConsumer, "dispatch", faulty_dispatch)
    c = await connect()
    session_id = await login(c, "alice")
    registration = Registration.objects.filter(session_id=session_id)
    channel = await channel_of(session_id)
    await get_channel_layer().send(channel, {"type": "test.fault"})
    assert await c.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
    for _ in range(50):  # the session ends as if its client had gone
        if await database_sync_to_async(registration.filter(disconnected_at=None).count)() == 0:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the session's registration is still open")


async def test_a_logged_in_session_keeps_only_where_it_came_from_of_its_scope(live_db, monkeypatch):
    from calls.consumer import SignalingConsumer
    from registrations.models import Registration

    consumers, init_core = [], SignalingConsumer.init_core

    def init_and_keep(self):
        consumers.append(self)
        init_core(self)

    monkeypatch.setattr(SignalingConsumer, "init_core", init_and_keep)
    c = await connect(headers=[(b"user-agent", b"test-phone/1.0"), (b"cookie", b"sessionid=x")])
    (consumer,) = consumers
    assert {b"user-agent", b"cookie"} <= dict(consumer.scope["headers"]).keys()  # read at login
    session_id = await login(c, "alice")

    registration = await database_sync_to_async(Registration.objects.get)(session_id=session_id)
    assert registration.user_agent == "test-phone/1.0"
    assert consumer.scope["type"] == "websocket" and consumer.scope["path"] == "/ws/"
    assert not {"headers", "cookies", "session", "user"} & consumer.scope.keys()
    assert await ask(c, "core", "core", "ping", tid=2) == {"result": "ok", "tid": 2}
    await c.disconnect()

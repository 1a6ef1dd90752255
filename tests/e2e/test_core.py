"""The core protocol (PROTOCOL.md §1-5) against a real daphne over a real socket."""

import asyncio
import json

import pytest
import websockets

from calls.client import SignalingClient

from ..conftest import PASSWORD
from .helpers import error_code, sessions, unique, wait_closed


async def raw(server, frame):
    async with websockets.connect(server.url) as ws:
        await ws.send(frame)
        return json.loads(await ws.recv())


@pytest.mark.parametrize("frame, code, tid", [
    ("{not json", 100044, None),
    ("[1,2,3]", 100044, None),
    ('{"tid": 5, "what": 1}', 100044, 5),
    ('{"class": "core", "cmd": "nope", "tid": 6}', 100031, 6),
])
async def test_bad_frames_get_errors_and_the_connection_survives(server, frame, code, tid):
    async with websockets.connect(server.url) as ws:
        await ws.send(frame)
        answer = json.loads(await ws.recv())
        assert answer["result"] == "error" and answer["data"]["code"] == code and answer["tid"] == tid
        await ws.send('{"class": "core", "cmd": "ping", "tid": 1}')
        assert json.loads(await ws.recv()) == {"result": "ok", "tid": 1}


async def test_error_order_and_validation_after_login(server):
    async with sessions(server.url, "alice") as (a,):
        assert await error_code(a.request("core", "x", "y")) == 100042
        assert await error_code(a.request("core", "user", "get", {})) == 100045
        assert await error_code(a.request("core", "user", "get", {"user": 3})) == 100046
        assert await error_code(a.request("core", "user", "login", {"user": "alice",
                                                                    "password": PASSWORD})) == 100032
        assert await error_code(a.call("ringing", call_id="no-such-call")) == 305002
        assert await error_code(a.request("core", "session", "stop", {"session_id": "gone"})) == 100062
        # unknown extra fields are ignored; a client's own core/event is answered ok
        assert await a.request("core", "core", "ping", {"extra": 1}) == {}
        assert await a.request("core", "core", "event", {"anything": 1}) == {}


async def test_login_by_password_token_and_failures(server, users, history):
    from rest_framework.authtoken.models import Token

    token = await history(lambda: Token.objects.get_or_create(user=users["carol"])[0].key)
    async with SignalingClient.connect(server.url) as c:
        assert await error_code(c.login("carol", password="wrong")) == 100030
        assert await error_code(c.login("carol", token="bad-token")) == 100030
        assert await error_code(c.login("dave", token=token)) == 100030  # not dave's token
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await error_code(c.login("carol", password="wrong")) == 100030
        assert loop.time() - started >= 0.75  # fourth failure: 0.2 * 2**3 seconds
        session_id = await c.login("carol", token=token)
        assert len(session_id) == 36  # a UUID when none is given


async def test_a_session_cookie_logs_in_without_a_password_and_no_cookie_does_not(server, users, history):
    from django.conf import settings
    from django.test import Client

    def session_cookie():
        browser = Client()
        browser.force_login(users["erin"])
        return browser.cookies[settings.SESSION_COOKIE_NAME].value

    cookie = f"{settings.SESSION_COOKIE_NAME}={await history(session_cookie)}"
    async with SignalingClient.connect(server.url, headers={"Cookie": cookie}) as c:
        assert len(await c.login("erin")) == 36
    async with SignalingClient.connect(server.url) as c:  # anonymous: nothing proves who it is
        assert await error_code(c.login("erin")) == 100030


async def test_session_ids_are_unique_among_live_sessions(server):
    session_id = unique("dup")
    async with SignalingClient.connect(server.url) as first, SignalingClient.connect(server.url) as second:
        await first.login("alice", password=PASSWORD, session_id=session_id)
        assert await error_code(second.login("bob", password=PASSWORD, session_id=session_id)) == 100034
        assert await wait_closed(second) == 1008
        assert await first.request("core", "core", "ping") == {}
    # once that session ended, its id may be used again
    async with SignalingClient.connect(server.url) as again:
        assert await again.login("bob", password=PASSWORD, session_id=session_id) == session_id


async def test_user_list_get_and_visibility(server):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        online = await a.request("core", "user", "list")
        assert set(online["bob"]) >= {b1.session_id, b2.session_id}
        assert a.session_id in online["alice"]
        seen_by_alice = await a.request("core", "user", "get", {"user": "bob"})
        assert seen_by_alice[b1.session_id] == {"protocol": "api"}
        seen_by_bob = await b1.request("core", "user", "get", {"user": "bob"})
        assert seen_by_bob[b2.session_id]["remote"].startswith("127.0.0.1:")
        assert seen_by_bob[b2.session_id]["meta"] == {}
        assert await error_code(a.request("core", "user", "get", {"user": "nobody"})) == 100033
    await asyncio.sleep(0.2)
    async with sessions(server.url, "carol") as (c,):
        assert b1.session_id not in (await c.request("core", "user", "list")).get("bob", [])


async def test_user_and_session_events(server):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        await a.request("core", "user", "send_event", {"user": "bob", "type": "hello", "body": {"x": 1}})
        for b in (b1, b2):
            event = await b.next_event()
            assert event == {"class": "core", "subclass": "user_event", "type": "hello",
                             "obj_id": "bob", "body": {"x": 1}}
        await a.request("core", "session", "send_event", {"session_id": b2.session_id})
        event = await b2.next_event()
        assert (event["subclass"], event["type"], event["obj_id"]) == ("session_event", "*", b2.session_id)
        assert await b1.no_event() is None
        assert await error_code(a.request("core", "user", "send_event", {"user": "frank"})) == 100033
        assert await error_code(a.request("core", "session", "send_event", {"session_id": "x"})) == 100062


async def test_subscriptions_rules_merge_and_listing(server):
    async with sessions(server.url, "alice", "bob", "staff") as (a, b, s):
        subs = await a.request("core", "event", "get_subscriptions")
        assert {"class": "core", "subclass": "user_event", "type": "*", "obj_id": "alice", "body": {}} in subs
        assert {"class": "core", "subclass": "session_event", "type": "*", "obj_id": a.session_id,
                "body": {}} in subs
        for keys in ({"class": "*"}, {"class": "core"}, {"class": "media"},
                     {"class": "core", "subclass": "user_event", "obj_id": "bob"},
                     {"class": "media", "subclass": "call", "obj_id": "*"}):
            assert await error_code(a.request("core", "event", "subscribe", keys)) == 100030, keys
        assert await error_code(a.request("core", "event", "subscribe", {
            "class": "media", "subclass": "call", "obj_id": "no-such-call"})) == 305002
        await a.request("core", "event", "subscribe", {"class": "chat", "body": {"a": 1, "b": 1}})
        await a.request("core", "event", "subscribe", {"class": "chat", "subclass": "room",
                                                       "obj_id": "r1", "body": {"b": 2}})
        await a.request("core", "event", "subscribe", {"class": "chat", "body": {"a": 3, "b": 3}})
        assert len(await a.request("core", "event", "get_subscriptions")) == 4
        assert await error_code(b.request("core", "event", "send", {"class": "media"})) == 100030
        await b.request("core", "event", "send", {"class": "chat", "subclass": "room", "type": "msg",
                                                  "obj_id": "r1", "body": {"text": "hi", "b": 9}})
        event = await a.next_event()
        assert event["body"] == {"a": 3, "b": 9, "text": "hi"}  # once, merged, event's keys win
        assert await a.no_event() is None
        await a.request("core", "event", "unsubscribe", {"class": "chat"})
        await a.request("core", "event", "unsubscribe", {"class": "chat"})  # not subscribed: ok
        await b.request("core", "event", "send", {"class": "chat", "subclass": "lobby"})
        assert await a.no_event() is None
        # staff may subscribe to anything and send into core
        await s.request("core", "event", "subscribe", {"class": "*"})
        await s.request("core", "event", "send", {"class": "core", "subclass": "x", "type": "y"})
        assert (await s.next_event())["subclass"] == "x"


async def test_session_cmd_relays_request_and_answer(server):
    async with sessions(server.url, "alice", "bob", "staff") as (a, b, s):
        task = asyncio.ensure_future(a.request("core", "session", "cmd", {
            "session_id": b.session_id, "class": "app", "cmd": "whoami", "data": {"q": 1}}))
        relayed = await asyncio.wait_for(b.server_requests.get(), 5)
        assert (relayed["class"], relayed["subclass"], relayed["cmd"], relayed["data"]) == (
            "app", "core", "whoami", {"q": 1})
        await b.send_json({"ack": relayed["tid"]})
        await asyncio.sleep(0.1)
        await b.respond(relayed["tid"], {"answer": 42})
        assert await task == {"answer": 42}
        # an error answer comes back as the error
        task = asyncio.ensure_future(a.request("core", "session", "cmd", {
            "session_id": b.session_id, "class": "app", "cmd": "fail"}))
        relayed = await asyncio.wait_for(b.server_requests.get(), 5)
        await b.respond(relayed["tid"], error={"code": 4242, "error": "nope"})
        assert await error_code(task) == 4242
        assert await error_code(a.request("core", "session", "cmd", {
            "session_id": b.session_id, "class": "media", "subclass": "call", "cmd": "invite"})) == 100030
        assert await error_code(a.request("core", "session", "cmd", {
            "session_id": "gone", "class": "media", "cmd": "x"})) == 100062
        # staff may; unanswered: 100005 after the 5 s wait
        task = asyncio.ensure_future(s.request("core", "session", "cmd", {
            "session_id": b.session_id, "class": "core", "cmd": "custom"}, timeout=15))
        await asyncio.wait_for(b.server_requests.get(), 5)
        assert await error_code(task) == 100005


async def test_session_stop(server):
    async with sessions(server.url, "alice", "bob", "bob", "staff") as (a, b1, b2, s):
        assert await error_code(a.request("core", "session", "stop", {"session_id": b1.session_id})) == 100030
        await b2.request("core", "session", "stop", {"session_id": b1.session_id})
        event = await b1.next_event()
        assert event == {"class": "core", "subclass": "session_event", "type": "stop",
                         "obj_id": b1.session_id, "body": {"code": 100011, "reason": "User stop"}}
        assert await wait_closed(b1) == 1000
        await s.request("core", "session", "stop", {"session_id": b2.session_id})
        assert await wait_closed(b2) == 1000
        await asyncio.sleep(0.1)
        assert "bob" not in await a.request("core", "user", "list") or not (
            {b1.session_id, b2.session_id} & set((await a.request("core", "user", "list"))["bob"]))


async def test_origin_rule(server):
    async with websockets.connect(server.url, origin="http://localhost:1234") as ws:
        await ws.send('{"class": "core", "cmd": "ping", "tid": 1}')
        assert json.loads(await ws.recv())["result"] == "ok"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.url, origin="http://evil.example")
    assert refused.value.response.status_code == 403


async def test_oversize_frame_is_refused_and_closed(server):
    async with websockets.connect(server.url, max_size=None) as ws:
        await ws.send(json.dumps({"class": "core", "cmd": "ping", "tid": 77, "data": {"x": "y" * 70000}}))
        answer = json.loads(await ws.recv())
        assert answer["tid"] == 77 and answer["data"]["code"] == 100046
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009


async def test_too_many_bad_frames_close_the_connection(server):
    async with websockets.connect(server.url) as ws:
        for _ in range(20):
            await ws.send("bad")
            assert json.loads(await ws.recv())["data"]["code"] == 100044
        await ws.send('{"class": "core", "cmd": "ping", "tid": 1}')  # a good one resets the count
        assert json.loads(await ws.recv())["result"] == "ok"
        for _ in range(21):
            await ws.send("bad")
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 1008


async def test_flood_over_the_rate_limit_is_closed(server):
    async with websockets.connect(server.url) as ws:
        frames = [json.dumps({"class": "core", "cmd": "ping", "tid": i}) for i in range(1000)]
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 1008


async def test_answers_to_unknown_server_tids_are_ignored(server):
    async with sessions(server.url, "alice") as (a,):
        await a.send_json({"result": "ok", "tid": 99999})
        await a.send_json({"ack": 99998})
        assert await a.request("core", "core", "ping") == {}

"""Core and calls across two daphne processes on Redis + PostgreSQL, and a process dying."""

import asyncio

import pytest

from calls.client import SignalingClient
from calls.models import Call
from registrations.models import Registration

from ..conftest import PASSWORD
from ..e2e.helpers import error_code, sessions, unique
from .conftest import start_server

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(databases=["default", "cluster"])]


async def ended_record(read, call_id, timeout=5):
    for _ in range(int(timeout / 0.05)):
        call = await read(lambda: Call.objects.using("cluster").filter(call_id=call_id).first())
        if call is not None and call.state == "ended":
            return call
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} not ended in the history")


async def test_core_across_processes(two_servers):
    a_server, b_server = two_servers
    async with sessions(a_server.url, "alice") as (a,), sessions(b_server.url, "bob") as (b,):
        online = await a.request("core", "user", "list")
        assert b.session_id in online["bob"]
        assert set(await a.request("core", "user", "get", {"user": "bob"})) >= {b.session_id}
        await a.request("core", "session", "send_event", {"session_id": b.session_id, "type": "poke",
                                                          "body": {"from": "A"}})
        event = await b.next_event()
        assert (event["type"], event["body"]) == ("poke", {"from": "A"})
        await a.request("core", "user", "send_event", {"user": "bob", "type": "hi"})
        assert (await b.next_event())["type"] == "hi"
        task = asyncio.ensure_future(a.request("core", "session", "cmd", {
            "session_id": b.session_id, "class": "app", "cmd": "echo", "data": {"n": 1}}))
        relayed = await asyncio.wait_for(b.server_requests.get(), 5)
        await b.send_json({"ack": relayed["tid"]})
        await b.respond(relayed["tid"], {"echo": relayed["data"]})
        assert await task == {"echo": {"n": 1}}


async def test_basic_call_across_processes(two_servers, history):
    a_server, b_server = two_servers
    async with sessions(a_server.url, "alice") as (a,), sessions(b_server.url, "bob") as (b,):
        call_id = (await a.call("start", callee="bob", offer={"sdp": "o"}))["call_id"]
        assert (await b.next_invite())["data"]["offer"] == {"sdp": "o"}
        await b.call("ringing", call_id=call_id)
        assert (await a.next_event())["type"] == "ringing"
        await b.call("answered", call_id=call_id, answer={"sdp": "a"})
        assert (await a.next_event())["body"] == {"answer": {"sdp": "a"}}
        await b.call("hangup", call_id=call_id)
        assert (await a.next_event())["body"] == {"code": 0, "reason": "User hangup"}
        assert (await b.next_event())["body"] == {"code": 0, "reason": "User hangup"}
    call = await ended_record(history, call_id)
    assert call.hangup_code == 0 and call.answered_session_id == b.session_id
    events = await history(lambda: list(call.events.using("cluster").values_list("type", flat=True)))
    assert events == ["ringing", "answer", "hangup"]


async def test_answer_race_across_processes(two_servers, history):
    a_server, b_server = two_servers
    async with sessions(a_server.url, "alice", "bob", "bob") as (a, b1, b2), \
            sessions(b_server.url, "bob", "bob") as (b3, b4):
        devices = [b1, b2, b3, b4]
        call_id = (await a.call("start", callee="bob"))["call_id"]
        for device in devices:
            await device.next_invite()
        results = await asyncio.gather(
            *(device.call("answered", call_id=call_id) for device in devices), return_exceptions=True)
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert [r.code for r in results if isinstance(r, Exception)] == [305006] * 3
        assert (await a.next_event())["type"] == "answer"
        assert await a.no_event(0.5) is None
        losers = [d for d, r in zip(devices, results) if isinstance(r, Exception)]
        for loser in losers:
            assert (await loser.next_event())["body"]["code"] == 305008
        await a.call("hangup", call_id=call_id)
    call = await ended_record(history, call_id)
    states = await history(lambda: sorted(call.legs.using("cluster").values_list("state", flat=True)))
    assert states == ["answered", "cancelled", "cancelled", "cancelled"]


async def test_dead_process_ends_its_calls_and_sessions(two_servers, cluster_db, history):
    a_server, _ = two_servers
    doomed = start_server(cluster_db)
    try:
        async with sessions(a_server.url, "bob", "carol") as (bob, carol):
            alice = await SignalingClient.connect(doomed.url)
            dave = await SignalingClient.connect(doomed.url)
            await alice.login("alice", password=PASSWORD, session_id=unique("alice"))
            await dave.login("dave", password=PASSWORD, session_id=unique("dave"))
            # call 1 is owned by the doomed process; call 2 is answered there
            call1 = (await alice.call("start", callee="bob"))["call_id"]
            await bob.next_invite()
            await bob.call("answered", call_id=call1)
            call2 = (await carol.call("start", callee="dave"))["call_id"]
            await dave.next_invite()
            await dave.call("answered", call_id=call2)
            assert (await carol.next_event())["type"] == "answer"
            # a third call still ringing on the doomed owner: the invited session gets a leg hangup
            call3 = (await alice.call("start", callee="carol"))["call_id"]
            await carol.next_invite()
            doomed.kill()
            started = asyncio.get_running_loop().time()
            assert (await bob.next_event("hangup", timeout=15))["body"] == {
                "code": 100009, "reason": "Process failed"}
            carol_hangups = {(await carol.next_event("hangup", timeout=15))["obj_id"] for _ in range(2)}
            assert carol_hangups == {call2, call3}
            assert asyncio.get_running_loop().time() - started < 15
            call3_record = await ended_record(history, call3, timeout=15)
            assert call3_record.hangup_code == 100009
            assert (await ended_record(history, call1)).hangup_code == 100009
            assert (await ended_record(history, call2)).hangup_code == 305010
            online = await bob.request("core", "user", "list")
            assert alice.session_id not in online.get("alice", [])
            assert dave.session_id not in online.get("dave", [])
            live = await history(lambda: Registration.objects.using("cluster").filter(
                session_id__in=[alice.session_id, dave.session_id], disconnected_at=None).count())
            assert live == 0
            assert await error_code(bob.call("hangup", call_id=call1)) == 305002
    finally:
        doomed.stop()


async def test_rest_hangup_on_the_other_process_ends_the_call(two_servers, history):
    from ..api.test_live_hangup import post

    a_server, b_server = two_servers
    async with sessions(a_server.url, "alice") as (a,), sessions(b_server.url, "bob") as (b,):
        call_id = (await a.call("start", callee="bob"))["call_id"]
        await b.next_invite()
        await b.call("answered", call_id=call_id)
        assert (await a.next_event())["type"] == "answer"
        status, body = await asyncio.to_thread(
            post, f"{b_server.http}/api/auth/token/", {"username": "bob", "password": PASSWORD})
        assert status == 200
        # process B serves the request; the call is owned by the caller's consumer on A
        status, _ = await asyncio.to_thread(
            post, f"{b_server.http}/api/calls/{call_id}/hangup/", {"code": 42, "reason": "From B"},
            body["token"])
        assert status == 202
        for client in (a, b):
            assert (await client.next_event("hangup"))["body"] == {"code": 42, "reason": "From B"}
    assert (await ended_record(history, call_id)).hangup_reason == "From B"


async def test_a_calls_parties_get_its_events_from_its_owner_and_from_staff_without_a_redis_group(
        two_servers):
    import redis.asyncio as redis
    from django.conf import settings

    from calls.layers import RedisChannelLayer
    from calls.subscriptions import group_name

    a_server, b_server = two_servers
    async with sessions(a_server.url, "alice") as (a,), sessions(b_server.url, "bob", "staff") as (b, s):
        call_id = (await a.call("start", callee="bob"))["call_id"]
        await b.next_invite()
        await b.call("answered", call_id=call_id, answer={"sdp": "a"})
        assert (await a.next_event())["type"] == "answer"
        keys = {"class": "media", "subclass": "call", "type": "*", "obj_id": call_id, "body": {}}
        assert keys in await b.request("core", "event", "get_subscriptions")
        # The owner sends the parties their call's events itself: no group in Redis.
        group_key = RedisChannelLayer(hosts=[settings.CLUSTER_REDIS_URL])._group_key(group_name("media", call_id))
        client = redis.Redis.from_url(settings.CLUSTER_REDIS_URL)
        try:
            assert not await client.exists(group_key)
        finally:
            await client.aclose()
        # Staff elsewhere: the event reaches both parties (through the owner), once each.
        await s.request("core", "event", "send", {"class": "media", "subclass": "call", "type": "note",
                                                  "obj_id": call_id, "body": {"n": 1}})
        for party in (a, b):
            event = await party.next_event()
            assert (event["type"], event["body"]) == ("note", {"n": 1})
        await b.call("hangup", call_id=call_id)
        for party in (a, b):
            assert (await party.next_event())["type"] == "hangup"
            assert await party.no_event() is None
        assert keys not in await b.request("core", "event", "get_subscriptions")

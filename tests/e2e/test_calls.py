"""Calls (PROTOCOL.md §6) against a real daphne, each checked against its history record."""

import asyncio

from calls.client import SignalingClient
from calls.models import Call

from ..conftest import PASSWORD
from .helpers import error_code, sessions, unique, wait_closed


async def record(history, call_id, wait=True):
    """The call's history as plain data: call fields, {session_id: leg state}, event types."""
    def read():
        call = Call.objects.get(call_id=call_id)
        legs = {leg.session_id: leg.state for leg in call.legs.all()}
        events = [(e.type, e.body) for e in call.events.all()]
        return call, legs, events

    for _ in range(50):
        call, legs, events = await history(read)
        if call.state == "ended" or not wait:
            return call, legs, events
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} never ended in the history")


def event_types(events):
    return [t for t, _ in events]


async def start(client, **data):
    return (await client.call("start", **data))["call_id"]


async def test_basic_call_ringing_answer_hangup(server, history):
    async with sessions(server.url, "alice", "bob") as (a, b):
        call_id = await start(a, callee="bob", offer={"sdp": "v=0 offer"}, meta={"topic": "x"})
        invite = (await b.next_invite())["data"]
        assert invite == {"call_id": call_id, "type": "user", "offer": {"sdp": "v=0 offer"},
                          "meta": {"topic": "x"}, "caller": {"user": "alice", "session_id": a.session_id}}
        await b.call("ringing", call_id=call_id)
        assert (await a.next_event()) == {"class": "media", "subclass": "call", "type": "ringing",
                                          "obj_id": call_id, "body": {}}
        await asyncio.sleep(0.2)
        await b.call("answered", call_id=call_id, answer={"sdp": "v=0 answer"})
        assert (await a.next_event())["body"] == {"answer": {"sdp": "v=0 answer"}}
        await asyncio.sleep(0.3)
        await a.call("hangup", call_id=call_id)
        hangup = {"code": 0, "reason": "User hangup"}
        assert (await a.next_event())["body"] == hangup
        assert (await b.next_event()) == {"class": "media", "subclass": "call", "type": "hangup",
                                          "obj_id": call_id, "body": hangup}
        assert await a.no_event(0.3) is None and await b.no_event(0.1) is None
        assert await error_code(a.call("hangup", call_id=call_id)) == 305002
    call, legs, events = await record(history, call_id)
    assert (call.state, call.hangup_code, call.hangup_reason) == ("ended", 0, "User hangup")
    assert legs == {b.session_id: "answered"}
    assert event_types(events) == ["ringing", "answer", "hangup"]
    assert call.answered_session_id == b.session_id and call.has_offer and call.has_answer
    assert call.offer is None  # SDPs are not kept by default
    assert call.meta == {"topic": "x"} and call.callee == "bob" and call.callee_type is None
    assert 0.2 <= call.ring_duration < 2 and 0.3 <= call.duration < 2


async def test_two_devices_answered_elsewhere(server, history):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        call_id = await start(a, callee="bob", type="user")
        await b1.next_invite()
        await b2.next_invite()
        await b2.call("answered", call_id=call_id)
        assert (await b1.next_event())["body"] == {"code": 305008, "reason": "Answered elsewhere"}
        assert (await a.next_event())["type"] == "answer"
        assert await error_code(b1.call("answered", call_id=call_id)) == 305006
        await b2.call("hangup", call_id=call_id)
        assert (await a.next_event())["body"] == {"code": 0, "reason": "User hangup"}
        assert (await b2.next_event())["type"] == "hangup"
        assert await b1.no_event(0.3) is None  # never a second hangup
    call, legs, events = await record(history, call_id)
    assert legs == {b1.session_id: "cancelled", b2.session_id: "answered"}
    assert event_types(events) == ["answer", "hangup"]


async def test_four_sessions_answer_at_the_same_instant(server, history):
    async with sessions(server.url, "alice", "bob", "bob", "bob", "bob") as (a, *devices):
        call_id = await start(a, callee="bob")
        for device in devices:
            await device.next_invite()
        results = await asyncio.gather(
            *(device.call("answered", call_id=call_id, answer={"n": i}) for i, device in enumerate(devices)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1
        assert sorted(r.code for r in results if isinstance(r, Exception)) == [305006] * 3
        assert (await a.next_event())["type"] == "answer"
        assert await a.no_event(0.5) is None
    call, legs, events = await record(history, call_id)
    assert sorted(legs.values()) == ["answered", "cancelled", "cancelled", "cancelled"]
    assert event_types(events).count("answer") == 1


async def test_all_reject(server, history):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        call_id = await start(a, callee="bob")
        await b1.next_invite()
        await b2.next_invite()
        await b1.call("rejected", call_id=call_id)
        await b1.call("rejected", call_id=call_id)  # already dropped: still ok
        await b2.call("rejected", call_id=call_id)
        assert (await a.next_event())["body"] == {"code": 305003, "reason": "Call rejected"}
        assert await error_code(b2.call("rejected", call_id=call_id)) == 305002
    call, legs, events = await record(history, call_id)
    assert call.hangup_code == 305003 and set(legs.values()) == {"rejected"}
    assert event_types(events) == ["hangup"] and call.duration == 0


async def test_refused_invite(server, history):
    async with sessions(server.url, "alice") as (a,), sessions(server.url, "bob", invite_answer="error") as (b,):
        call_id = await start(a, callee="bob")
        await b.next_invite()
        assert (await a.next_event())["body"] == {"code": 305003, "reason": "Call rejected"}
    call, legs, _ = await record(history, call_id)
    assert legs == {b.session_id: "declined"}


async def test_unanswered_invite_drops_after_five_seconds(server, history):
    async with sessions(server.url, "alice") as (a,), sessions(server.url, "bob", invite_answer=None) as (b,):
        call_id = await start(a, callee="bob")
        await b.next_invite()
        started = asyncio.get_running_loop().time()
        assert (await a.next_event(timeout=10))["body"] == {"code": 305005, "reason": "No answer"}
        assert 4.5 <= asyncio.get_running_loop().time() - started < 7
        assert (await b.next_event())["body"] == {"code": 305005, "reason": "No answer"}
    _, legs, _ = await record(history, call_id)
    assert legs == {b.session_id: "timeout"}


async def test_ring_time_passes(server, history):
    async with sessions(server.url, "alice", "bob") as (a, b):
        call_id = await start(a, callee="bob", ring_time=1)
        await b.next_invite()
        await b.call("ringing", call_id=call_id)
        assert (await a.next_event())["type"] == "ringing"
        assert (await a.next_event(timeout=3))["body"] == {"code": 305005, "reason": "No answer"}
        assert (await b.next_event())["body"] == {"code": 305005, "reason": "No answer"}
        assert await error_code(b.call("answered", call_id=call_id)) == 305002
    call, legs, events = await record(history, call_id)
    assert legs == {b.session_id: "timeout"} and event_types(events) == ["ringing", "hangup"]
    assert 0.9 <= call.ring_duration < 2


async def test_no_destination(server, history):
    async with sessions(server.url, "alice") as (a,):
        call_id = await start(a, callee="frank")
        assert (await a.next_event())["body"] == {"code": 305004, "reason": "No destination"}
        call_id2 = await start(a, callee="bob", type="sip")  # no SIP registrations exist
        assert (await a.next_event())["body"]["code"] == 305004
    call, legs, events = await record(history, call_id)
    assert call.hangup_code == 305004 and legs == {} and event_types(events) == ["hangup"]
    assert (await record(history, call_id2))[0].callee_type == "sip"


async def test_caller_cancels_before_answer(server, history):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        call_id = await start(a, callee="bob")
        await b1.next_invite()
        await b2.next_invite()
        await b1.call("ringing", call_id=call_id)
        await a.call("hangup", call_id=call_id)
        for b in (b1, b2):
            assert (await b.next_event())["body"] == {"code": 305007, "reason": "Originator cancel"}
        assert (await a.next_event("hangup"))["body"] == {"code": 0, "reason": "User hangup"}
    _, legs, events = await record(history, call_id)
    assert set(legs.values()) == {"cancelled"} and event_types(events) == ["ringing", "hangup"]


async def test_caller_disconnects_after_answer(server, history):
    async with sessions(server.url, "bob") as (b,):
        a = await SignalingClient.connect(server.url)
        await a.login("alice", password=PASSWORD)
        call_id = await start(a, callee="bob")
        await b.next_invite()
        await b.call("answered", call_id=call_id)
        await a.close()
        assert (await b.next_event())["body"] == {"code": 305009, "reason": "Caller stopped"}
    call, legs, _ = await record(history, call_id)
    assert call.hangup_code == 305009 and legs == {b.session_id: "answered"}


async def test_callee_disconnects_after_answer(server, history):
    async with sessions(server.url, "alice") as (a,):
        b = await SignalingClient.connect(server.url)
        await b.login("bob", password=PASSWORD)
        call_id = await start(a, callee="bob")
        await b.next_invite()
        await b.call("answered", call_id=call_id)
        assert (await a.next_event())["type"] == "answer"
        await b.close()
        assert (await a.next_event())["body"] == {"code": 305010, "reason": "Callee stopped"}
    call, _, _ = await record(history, call_id)
    assert call.hangup_code == 305010


async def test_invited_session_disconnecting_counts_as_rejection(server, history):
    async with sessions(server.url, "alice") as (a,):
        b = await SignalingClient.connect(server.url)
        await b.login("bob", password=PASSWORD)
        call_id = await start(a, callee="bob")
        await b.next_invite()
        await b.close()
        assert (await a.next_event())["body"]["code"] == 305003
    _, legs, _ = await record(history, call_id)
    assert legs == {b.session_id: "failed"}


async def test_session_stop_ends_its_calls(server, history):
    async with sessions(server.url, "alice", "bob", "staff") as (a, b, s):
        call_id = await start(a, callee="bob")
        await b.next_invite()
        await b.call("answered", call_id=call_id)
        await s.request("core", "session", "stop", {"session_id": a.session_id})
        assert (await b.next_event())["body"]["code"] == 305009
        assert await wait_closed(a) == 1000


async def test_call_one_session_by_type_session(server, history):
    async with sessions(server.url, "alice", "bob", "bob") as (a, b1, b2):
        call_id = await start(a, callee=b2.session_id, type="session")
        invite = (await b2.next_invite())["data"]
        assert invite["type"] == "session"
        assert b1.invites.empty()
        await b2.call("answered", call_id=call_id)
        await a.call("hangup", call_id=call_id)
    call, legs, _ = await record(history, call_id)
    assert legs == {b2.session_id: "answered"} and call.callee_type == "session"


async def test_calling_your_own_other_device(server, history):
    async with sessions(server.url, "alice", "alice") as (a1, a2):
        call_id = await start(a1, callee="alice")
        assert (await a2.next_invite())["data"]["call_id"] == call_id
        assert a1.invites.empty()  # the calling session itself is never invited
        await a2.call("answered", call_id=call_id)
        assert (await a1.next_event())["type"] == "answer"
        await a2.call("hangup", call_id=call_id)
        assert (await a1.next_event())["type"] == "hangup"
    _, legs, _ = await record(history, call_id)
    assert legs == {a2.session_id: "answered"}


async def test_retry_reinvites(server, history):
    async with sessions(server.url, "alice") as (a,), \
            sessions(server.url, "bob", invite_answer={"retry": 1}) as (b,):
        call_id = await start(a, callee="bob", ring_time=10)
        first = await b.next_invite()
        second = await b.next_invite(timeout=3)
        assert second["data"]["call_id"] == call_id and second["tid"] != first["tid"]
        b.invite_answer = "ok"
        await b.call("answered", call_id=call_id)
        assert (await a.next_event())["type"] == "answer"
        await a.call("hangup", call_id=call_id)
    call, legs, _ = await record(history, call_id)
    assert legs == {b.session_id: "answered"} and call.hangup_code == 0


async def test_event_body_merge_for_caller_and_answerer(server, history):
    async with sessions(server.url, "alice", "bob") as (a, b):
        call_id = await start(a, callee="bob", event_body={"mine": "caller"})
        await b.next_invite()
        await b.call("ringing", call_id=call_id, answer={"sdp": "early"})
        assert (await a.next_event())["body"] == {"mine": "caller", "answer": {"sdp": "early"}}
        await b.call("answered", call_id=call_id, event_body={"mine": "callee"})
        assert (await a.next_event())["body"] == {"mine": "caller", "answer": {}}
        assert await b.no_event(0.3) is None  # subscribed only from the events after its answer
        await a.call("hangup", call_id=call_id, code=17, error="Bye now")
        assert (await a.next_event())["body"] == {"mine": "caller", "code": 17, "reason": "Bye now"}
        assert (await b.next_event())["body"] == {"mine": "callee", "code": 17, "reason": "Bye now"}
    call, _, events = await record(history, call_id)
    assert (call.hangup_code, call.hangup_reason) == (17, "Bye now")
    assert events[-1] == ("hangup", {"code": 17, "reason": "Bye now"})  # bodies as emitted


async def test_subscribe_false_gets_no_call_events(server, history):
    async with sessions(server.url, "alice", "bob") as (a, b):
        call_id = await start(a, callee="bob", subscribe=False)
        await b.next_invite()
        await b.call("answered", call_id=call_id, subscribe=False)
        await a.call("hangup", call_id=call_id)
        assert await a.no_event(0.3) is None and await b.no_event(0.1) is None
    assert (await record(history, call_id))[0].hangup_code == 0


async def test_third_user_may_not_touch_the_call(server, history):
    async with sessions(server.url, "alice", "bob", "carol", "staff") as (a, b, c, s):
        call_id = await start(a, callee="bob")
        await b.next_invite()
        for cmd in ("ringing", "answered", "rejected", "hangup"):
            assert await error_code(c.call(cmd, call_id=call_id)) == 100030, cmd
        assert await error_code(c.request("core", "event", "subscribe", {
            "class": "media", "subclass": "call", "obj_id": call_id})) == 100030
        assert await error_code(a.call("answered", call_id=call_id)) == 100030  # caller isn't invited
        # a party's other session and staff may subscribe
        async with sessions(server.url, "bob") as (b_other,):
            await b_other.request("core", "event", "subscribe", {
                "class": "media", "subclass": "call", "obj_id": call_id})
            await s.request("core", "event", "subscribe", {
                "class": "media", "subclass": "call", "obj_id": call_id})
            await b.call("ringing", call_id=call_id)
            assert (await b_other.next_event())["type"] == "ringing"
            assert (await s.next_event())["type"] == "ringing"
            await s.call("hangup", call_id=call_id)
            assert (await b_other.next_event())["body"]["code"] == 0
        assert (await b.next_event())["body"]["code"] == 305007
    call, legs, _ = await record(history, call_id)
    assert call.hangup_code == 0 and legs == {b.session_id: "cancelled"}


async def test_given_call_id_and_its_reuse(server, history):
    call_id = unique("call")
    async with sessions(server.url, "alice", "bob") as (a, b):
        assert await start(a, callee="bob", call_id=call_id) == call_id
        await b.next_invite()
        await a.call("hangup", call_id=call_id)
        assert await error_code(a.call("start", callee="bob", call_id=call_id)) == 100046


async def test_a_call_subscription_goes_when_the_call_ends(server):
    async with sessions(server.url, "alice", "bob") as (a, b):
        call_id = await start(a, callee="bob")
        await b.next_invite()
        await b.call("answered", call_id=call_id)
        keys = {"class": "media", "subclass": "call", "type": "*", "obj_id": call_id, "body": {}}
        assert keys in await a.request("core", "event", "get_subscriptions")
        assert keys in await b.request("core", "event", "get_subscriptions")
        await a.call("hangup", call_id=call_id)
        await a.next_event("hangup")
        await b.next_event("hangup")
        assert keys not in await a.request("core", "event", "get_subscriptions")
        assert keys not in await b.request("core", "event", "get_subscriptions")

"""End to end: a live call between two protocol clients is hung up through the REST API
of the daphne process that owns it (token auth over real HTTP)."""

import asyncio
import json
import urllib.error
import urllib.request

from calls.client import SignalingClient
from calls.models import Call

from ..conftest import PASSWORD


def post(url, body, token=None):
    """(status, JSON body) of a POST to the test server (127.0.0.1 only)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_hangup_through_the_api_ends_a_live_call(server, history):
    async with SignalingClient.connect(server.url) as a, SignalingClient.connect(server.url) as b:
        await a.login("alice", password=PASSWORD)
        await b.login("bob", password=PASSWORD)
        call_id = (await a.call("start", callee="bob"))["call_id"]
        assert (await b.next_invite())["data"]["call_id"] == call_id
        await b.call("answered", call_id=call_id, answer={"sdp": "x"})
        assert (await a.next_event())["type"] == "answer"

        status, body = await asyncio.to_thread(
            post, f"{server.http}/api/auth/token/", {"username": "alice", "password": PASSWORD})
        assert status == 200
        token = body["token"]
        hangup_url = f"{server.http}/api/calls/{call_id}/hangup/"
        status, body = await asyncio.to_thread(post, hangup_url, {}, token)
        assert (status, body) == (202, {"call_id": call_id, "detail": "Hangup requested."})

        for client in (a, b):
            event = await client.next_event("hangup")
            assert event["obj_id"] == call_id
            assert event["body"] == {"code": 0, "reason": "User hangup"}

        # the history is written as the events go out: give it a moment, then 409
        for _ in range(20):
            status, body = await asyncio.to_thread(post, hangup_url, {}, token)
            if status != 202:
                break
            await asyncio.sleep(0.1)
        assert (status, body) == (409, {"detail": "The call already ended."})
        assert await a.no_event(0.3) is None and await b.no_event(0.3) is None

    call = await history(lambda: Call.objects.get(call_id=call_id))
    assert call.state == "ended" and call.hangup_code == 0 and call.hangup_reason == "User hangup"


async def test_another_user_cannot_hang_up_over_http(server, history):
    async with SignalingClient.connect(server.url) as a, SignalingClient.connect(server.url) as b:
        await a.login("alice", password=PASSWORD)
        await b.login("bob", password=PASSWORD)
        call_id = (await a.call("start", callee="bob"))["call_id"]
        await b.next_invite()
        status, body = await asyncio.to_thread(
            post, f"{server.http}/api/auth/token/", {"username": "carol", "password": PASSWORD})
        status, _ = await asyncio.to_thread(
            post, f"{server.http}/api/calls/{call_id}/hangup/", {"code": 1}, body["token"])
        assert status == 404
        assert await a.no_event(0.3) is None
        await a.call("hangup", call_id=call_id)
        assert (await a.next_event("hangup"))["body"]["code"] == 0

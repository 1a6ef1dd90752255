"""The load generator's client against a real WebSocket server (websockets' own)."""

import asyncio
import json

import pytest
from websockets.asyncio.server import serve

from bench.wsclient import BenchClient, ClientError


async def scripted_server(handler):
    server = await serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/ws/"


@pytest.mark.asyncio
async def test_requests_events_and_invites_over_fragments_and_pings():
    answered = []

    async def handler(ws):
        request = json.loads(await ws.recv())
        pong = await ws.ping()  # answered by the client's protocol, unseen by the session
        reply = json.dumps({"result": "ok", "tid": request["tid"], "data": {"session_id": "s1"}})
        await ws.send([reply[:10], reply[10:]])  # one message in two fragments
        await ws.send(json.dumps({"class": "core", "subclass": "core", "cmd": "event", "tid": 7,
                                  "data": {"type": "answer", "obj_id": "c1"}}))
        await ws.send(json.dumps({"class": "media", "subclass": "call", "cmd": "invite", "tid": 8,
                                  "data": {"call_id": "c1"}}))
        answered.extend([json.loads(await ws.recv()), json.loads(await ws.recv())])
        await asyncio.wait_for(pong, 5)
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"result": "error", "tid": request["tid"],
                                  "data": {"code": 305002, "error": "no such call"}}))
        await ws.wait_closed()

    server, url = await scripted_server(handler)
    async with server:
        client = await BenchClient.connect(url)
        assert await client.request("core", "user", "login", {"user": "a"}) == {"session_id": "s1"}
        assert (await client.next_event("answer"))["obj_id"] == "c1"
        assert (await client.next_invite())["data"]["call_id"] == "c1"
        with pytest.raises(ClientError) as error:
            await client.request("media", "call", "hangup", {"call_id": "c1"})
        assert error.value.code == 305002
        assert answered == [{"result": "ok", "tid": 7}, {"result": "ok", "tid": 8}]
        await client.close()


@pytest.mark.asyncio
async def test_a_request_times_out_and_a_lost_connection_fails_what_waits():
    async def handler(ws):
        await ws.recv()  # never answered
        await ws.recv()
        await ws.close()

    server, url = await scripted_server(handler)
    async with server:
        client = await BenchClient.connect(url)
        with pytest.raises(asyncio.TimeoutError):
            await client.request("core", "core", "ping", timeout=0.1)
        with pytest.raises(ConnectionError):
            await client.request("core", "core", "ping", timeout=30)
        with pytest.raises(ConnectionError):
            await client.next_event(timeout=30)


@pytest.mark.asyncio
async def test_frames_of_every_length_form_both_ways_even_when_they_arrive_in_pieces():
    sizes = [10, 125, 126, 3000, 65535, 65536, 300_000]  # 7-bit, 16-bit and 64-bit lengths
    got = []

    async def handler(ws):
        for _ in sizes:
            request = json.loads(await ws.recv())
            got.append(len(request["data"]["pad"]))
            pad = "y" * len(request["data"]["pad"])  # the kernel hands large ones over in pieces
            await ws.send(json.dumps({"result": "ok", "tid": request["tid"], "data": {"pad": pad}}))
        await ws.wait_closed()

    server, url = await scripted_server(handler)
    async with server:
        client = await BenchClient.connect(url)
        for size in sizes:
            reply = await client.request("core", "core", "ping", {"pad": "x" * size})
            assert reply == {"pad": "y" * size}
        await client.close()
    assert got == sizes

from calls.client import SignalingClient
from calls.models import Call

from ..conftest import PASSWORD


async def test_basic_call_over_daphne(server, history):
    async with SignalingClient.connect(server.url) as a, SignalingClient.connect(server.url) as b:
        await a.login("alice", password=PASSWORD)
        await b.login("bob", password=PASSWORD)
        call_id = (await a.call("start", callee="bob"))["call_id"]
        invite = await b.next_invite()
        assert invite["data"]["call_id"] == call_id
        await b.call("answered", call_id=call_id, answer={"sdp": "x"})
        assert (await a.next_event())["type"] == "answer"
        await a.call("hangup", call_id=call_id)
        assert (await a.next_event())["type"] == "hangup"
    call = await history(lambda: Call.objects.get(call_id=call_id))
    assert call.state == "ended" and call.hangup_code == 0

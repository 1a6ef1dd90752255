"""A server stopped with SIGTERM ends its calls and closes its sessions before it exits."""

import socket

from calls.client import SignalingClient
from calls.models import Call
from registrations.models import Registration

from ..conftest import PASSWORD
from ..servers import DaphneServer, database_url


async def test_sigterm_ends_calls_and_closes_registrations_despite_a_bare_connection(users, history):
    from django.db import connections

    server = DaphneServer(database_url(connections["default"].settings_dict))
    try:
        a = await SignalingClient.connect(server.url)
        b = await SignalingClient.connect(server.url)
        sessions = [await a.login("alice", password=PASSWORD), await b.login("bob", password=PASSWORD)]
        call_id = (await a.call("start", callee="bob"))["call_id"]
        await b.next_invite()
        await b.call("answered", call_id=call_id, answer={"sdp": "x"})
        assert (await a.next_event("answer"))["type"] == "answer"
        # A connection that never sends a request (a health probe): daphne has no
        # application for it, which used to stop its shutdown before any consumer ran.
        with socket.create_connection((server.host, server.port)):
            server.stop()
    finally:
        server.stop()
    assert "Killed 2 pending application instances" in server.log_text()
    call = await history(lambda: Call.objects.get(call_id=call_id))
    assert (call.state, call.hangup_code) == ("ended", 100001)
    live = await history(lambda: Registration.objects.filter(
        session_id__in=sessions, disconnected_at=None).count())
    assert live == 0

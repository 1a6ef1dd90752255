"""History rows made with the ORM, fresh users per test, and API clients."""

import asyncio
import itertools
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Call, CallEvent, CallLeg
from registrations.models import Registration

_numbers = itertools.count(1)


@pytest.fixture
def people(db):
    """Users made for this test only (rolled back), so no other test's rows are theirs."""
    def make(*names, staff=False):
        made = [get_user_model().objects.create_user(f"{name}-{next(_numbers)}", password="x",
                                                     is_staff=staff) for name in names]
        return made[0] if len(made) == 1 else made
    return make


@pytest.fixture
def client_for():
    """An APIClient logged in as a user (or anonymous with None)."""
    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client
    return make


def new_channel():
    return async_to_sync(get_channel_layer().new_channel)()


def receive(channel, timeout=1.0):
    """The next message on a channel-layer channel, or None within `timeout`."""
    async def get():
        try:
            return await asyncio.wait_for(get_channel_layer().receive(channel), timeout)
        except asyncio.TimeoutError:
            return None
    return async_to_sync(get)()


def make_call(caller, callees=(), *, state="ended", answered_by=None, started_at=None, code=None,
              reason=None, callee=None, callee_type="user", meta=None, events=True, ring=5, talk=60):
    """A call as the runtime would have written it: one leg per user in `callees`."""
    started_at = started_at or timezone.now() - timedelta(hours=1)
    answered_at = started_at + timedelta(seconds=ring) if answered_by is not None else None
    ended_at = None
    if state == Call.State.ENDED:
        ended_at = (answered_at + timedelta(seconds=talk)) if answered_at else started_at + timedelta(seconds=ring)
        code = 0 if code is None else code
        reason = reason if reason is not None else ("User hangup" if code == 0 else "Call error")
    call = Call.objects.create(
        call_id=f"c-{uuid.uuid4().hex[:12]}", caller=caller, caller_session_id=f"s-{caller.pk}",
        callee=callee or (callees[0].get_username() if callees else "nobody"), callee_type=callee_type,
        state=state, ring_time=30,
        started_at=started_at, answered_at=answered_at, ended_at=ended_at,
        answered_by=answered_by, answered_session_id=f"s-{answered_by.pk}" if answered_by else "",
        hangup_code=code, hangup_reason=reason or "", meta=meta or {}, has_offer=True,
        has_answer=answered_by is not None, owner_channel=new_channel(), owner_server_id="test",
    )
    for user in callees:
        leg_state = "answered" if user == answered_by else ("cancelled" if ended_at else "invited")
        CallLeg.objects.create(call=call, user=user, session_id=f"s-{user.pk}", state=leg_state,
                               invited_at=started_at, ended_at=ended_at)
    if events:
        seq = itertools.count(1)
        if answered_at:
            CallEvent.objects.create(call=call, seq=next(seq), type="answer",
                                     body={"answer": {"kept": False}}, at=answered_at)
        if ended_at:
            CallEvent.objects.create(call=call, seq=next(seq), type="hangup",
                                     body={"code": code, "reason": call.hangup_reason}, at=ended_at)
    return call


def make_registration(user, *, online=True, protocol="api", connected_at=None, ended_at=None):
    connected_at = connected_at or timezone.now() - timedelta(minutes=5)
    if not online:
        ended_at = ended_at or connected_at + timedelta(minutes=1)
    return Registration.objects.create(
        user=user, session_id=f"r-{uuid.uuid4().hex[:12]}", protocol=protocol, remote="127.0.0.1",
        user_agent="test", meta={"k": 1}, channel_name=new_channel(), server_id="test",
        connected_at=connected_at, last_seen_at=ended_at or connected_at,
        disconnected_at=None if online else ended_at,
    )


def ids(response):
    return [row["call_id"] for row in response.json()["results"]]

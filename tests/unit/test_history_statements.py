"""The history writer's statements write every field as the ORM reads it back.

Run on the test database (SQLite) as the writer runs them (the batch's rows as
one JSON array) and row by row (other databases); tests/cluster runs the same
on PostgreSQL.
"""

import random
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from calls import services
from calls.models import Call

pytestmark = pytest.mark.django_db


def write_and_read_back(alias, monkeypatch, keep_sdp):
    """Two calls through start, ringing, answer and end in three batches; the first call read back."""
    monkeypatch.setattr(services, "connection", connections[alias])
    monkeypatch.setattr(services.calls_settings, "KEEP_SDP", keep_sdp, raising=False)
    users = get_user_model().objects.db_manager(alias)
    stamp = time.time()
    caller = users.create_user(f"caller-{stamp}")
    callee = users.create_user(f"callee-{stamp}")
    first, second = f"first-{stamp}", f"second-{stamp}"
    offer = {"type": "offer", "sdp": "v=0\r\na=quote:' \" \\ é"}

    def start(call_id):
        return (call_id, {
            "caller_id": caller.pk, "caller_session_id": "s-caller", "callee": callee.username,
            "callee_type": None, "ring_time": 30, "started_at": stamp, "meta": {"k": ["v", 1]},
            "offer": offer, "owner_channel": "owner!1", "owner_server_id": "server-1",
        }, [("s-callee", callee.username, "callee!1", "api", callee.pk, "user"),
            ("s-phone", callee.username, "phone!1", "sip", callee.pk, "user")])

    with transaction.atomic(using=alias):
        services.record_call_starts([start(first), start(second)])
    with transaction.atomic(using=alias):
        services.record_call_changes([
            (first, [("leg", "s-callee", "ringing", None),
                     ("event", 1, "ringing", {"session_id": "s-callee"}, stamp + 1)]),
            (second, [("leg", "s-phone", "declined", stamp + 1)]),
            (first, [("leg", "s-callee", "answered", None),
                     ("answer", "s-callee", callee.pk, {"type": "answer", "sdp": "v=0"}, stamp + 2),
                     ("event", 2, "answer", {"answer": {"type": "answer", "sdp": "v=0"}}, stamp + 2),
                     ("leg", "s-phone", "cancelled", stamp + 2)]),
        ])
    with transaction.atomic(using=alias):
        services.record_call_changes([
            (first, [("leg", "s-callee", "answered", stamp + 3), ("end", 16, "Normal 'clearing'", stamp + 3),
                     ("event", 3, "hangup", {"code": 16, "reason": "Normal 'clearing'"}, stamp + 3)]),
        ])
    calls = Call.objects.using(alias)
    assert calls.get(call_id=second).legs.get(session_id="s-phone").state == "declined"
    call = calls.get(call_id=first)
    return call, caller, callee, stamp


def assert_recorded(call, caller, callee, stamp, keep_sdp):
    assert (call.caller_id, call.caller_session_id, call.callee, call.callee_type) == (
        caller.pk, "s-caller", callee.username, None)
    assert (call.state, call.ring_time, call.meta) == ("ended", 30, {"k": ["v", 1]})
    assert [call.started_at.timestamp(), call.answered_at.timestamp(), call.ended_at.timestamp()] == \
        pytest.approx([stamp, stamp + 2, stamp + 3], abs=1e-5)
    assert (call.answered_by_id, call.answered_session_id) == (callee.pk, "s-callee")
    assert (call.hangup_code, call.hangup_reason) == (16, "Normal 'clearing'")
    assert (call.has_offer, call.has_answer) == (True, True)
    assert (call.offer, call.answer) == ((
        {"type": "offer", "sdp": "v=0\r\na=quote:' \" \\ é"}, {"type": "answer", "sdp": "v=0"}
    ) if keep_sdp else (None, None))
    assert (call.owner_channel, call.owner_server_id) == ("owner!1", "server-1")
    legs = {leg.session_id: leg for leg in call.legs.all()}
    assert {s: (leg.state, leg.user_id, leg.protocol, leg.channel_name) for s, leg in legs.items()} == {
        "s-callee": ("answered", callee.pk, "api", "callee!1"),
        "s-phone": ("cancelled", callee.pk, "sip", "phone!1"),
    }
    assert legs["s-callee"].invited_at.timestamp() == pytest.approx(stamp, abs=1e-5)
    assert legs["s-callee"].ended_at.timestamp() == pytest.approx(stamp + 3, abs=1e-5)
    assert legs["s-phone"].ended_at.timestamp() == pytest.approx(stamp + 2, abs=1e-5)
    answer_body = {"answer": {"type": "answer", "sdp": "v=0"} if keep_sdp else {"kept": False}}
    assert [(e.seq, e.type, e.body) for e in call.events.all()] == [
        (1, "ringing", {"session_id": "s-callee"}), (2, "answer", answer_body),
        (3, "hangup", {"code": 16, "reason": "Normal 'clearing'"}),
    ]
    assert call.events.get(seq=2).at.timestamp() == pytest.approx(stamp + 2, abs=1e-5)


@pytest.mark.parametrize("keep_sdp", [False, True])
def test_one_json_array_per_statement(monkeypatch, keep_sdp):
    assert connections["default"].vendor == "sqlite"
    assert_recorded(*write_and_read_back("default", monkeypatch, keep_sdp), keep_sdp)


def test_row_by_row_on_other_databases(monkeypatch):
    from calls import history_sql

    monkeypatch.setattr(connections["default"], "vendor", "other")
    monkeypatch.setattr(history_sql, "_compiled", {})
    recorded = write_and_read_back("default", monkeypatch, True)
    assert history_sql._compiled and all(order is not None for _, order in history_sql._compiled.values())
    monkeypatch.undo()
    assert_recorded(*recorded, True)


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_sqlite_times_are_written_as_the_backend_writes_them(monkeypatch, zone):
    """The writer's own conversion of epoch seconds gives the text Django's SQLite backend gives."""
    from zoneinfo import ZoneInfo

    from django.db import connection

    assert connection.vendor == "sqlite"
    if zone:  # a database TIME_ZONE: naive times in that zone, summer and winter
        monkeypatch.setattr(connection, "timezone", ZoneInfo(zone))
    stamp, _ = services._adapters()
    rng = random.Random(7)
    times = [0.0, 1_700_000_000.0, 1_700_000_000.123456, 1_711_846_799.5, 1_720_000_000.000001,
             1_700_000_000.9999996, 1_700_000_000.0000005, 1_700_000_000.0000015, -1.25]
    times += [rng.uniform(1.6e9, 1.8e9) for _ in range(5_000)]
    times += [1_700_000_000 + rng.randrange(10**6) / 1e6 + rng.choice((0, 5e-7, -5e-7)) for _ in range(5_000)]
    for ts in times:
        assert stamp(ts) == connection.ops.adapt_datetimefield_value(services.to_datetime(ts)), ts
    assert stamp(None) is None

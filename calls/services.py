"""Writes of the call history (shared by consumer, reaper, API, admin, commands)."""

import math
from datetime import datetime, timezone as dt_timezone

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import history_sql
from .conf import calls_settings
from .models import Call, CallEvent, CallLeg


def to_datetime(ts):
    return datetime.fromtimestamp(ts, tz=dt_timezone.utc)


def record_call_starts(starts):
    """Write new calls and a leg per destination, as `start` creates them.

    `starts` is a list of (call_id, fields, destinations): the fields name the
    Call's columns (times in epoch seconds); the destinations are
    `resolve_destinations` rows, each invited at the call's start. Two statements
    for a whole batch; runs inside the history writer's transaction.
    """
    keep = calls_settings.KEEP_SDP
    stamp, as_json = _adapters()
    calls, legs = [], []
    for call_id, f, destinations in starts:
        started_at = stamp(f["started_at"])
        calls.append((
            call_id, f["caller_id"], f["caller_session_id"], f["callee"], f["callee_type"],
            Call.State.RINGING, f["ring_time"], started_at, as_json(f["meta"]), bool(f["offer"]),
            False, as_json(f["offer"] if keep and f["offer"] else None), f["owner_channel"],
            f["owner_server_id"],
        ))
        invited = {}  # one leg per session, as the call machine invites them
        for session_id, _, channel, protocol, user_pk, _ in destinations:
            invited.setdefault(session_id, (call_id, user_pk, session_id, protocol, channel,
                                            CallLeg.State.INVITED, started_at))
        legs += invited.values()
    with connection.cursor() as cursor:
        history_sql.run(cursor, "insert_call", calls)
        if legs:
            history_sql.run(cursor, "insert_leg", legs)


def record_call_changes(changes):
    """Record what inputs did to calls: `changes` is a list of (call_id, writes), in order.

    Each `writes` is a list of tuples built by the runtime from the machine's effects:
    ("leg", session_id, state, ended_at), ("event", seq, type, body, at),
    ("answer", session_id, user_pk, answer, at), ("end", code, reason, at); times in
    epoch seconds. A whole batch of calls costs at most five statements. Runs inside
    the history writer's transaction.
    """
    keep = calls_settings.KEEP_SDP
    stamp, as_json = _adapters()
    legs, events, answers, ends = {}, [], [], []
    for call_id, writes in changes:
        for write in writes:
            kind = write[0]
            if kind == "leg":  # only a leg's last state in the batch matters
                _, session_id, state, ended_at = write
                legs[call_id, session_id] = (state, stamp(ended_at))
            elif kind == "event":
                _, seq, type_, body, at = write
                events.append((call_id, seq, type_, as_json(_stored_body(body, keep)), stamp(at)))
            elif kind == "answer":
                _, session_id, user_pk, answer, at = write
                answers.append((call_id, Call.State.ANSWERED, stamp(at), user_pk, session_id, bool(answer),
                                as_json(answer if keep and answer else None)))
            elif kind == "end":
                _, code, reason, at = write
                ends.append((call_id, Call.State.ENDED, stamp(at), code, reason))
    with connection.cursor() as cursor:
        if legs:
            history_sql.run(cursor, "update_leg", [(call_id, state, ended_at, session_id)
                                                   for (call_id, session_id), (state, ended_at) in legs.items()])
        if answers:
            history_sql.run(cursor, "update_answer", answers)
        if ends:
            history_sql.run(cursor, "update_end", ends)
        if events:
            history_sql.run(cursor, "insert_event", events)


def _adapters():
    """(epoch seconds -> datetime column value, value -> JSON column value) for this database."""
    if connection.vendor == "sqlite" and settings.USE_TZ:
        stamp = _sqlite_stamp(connection.timezone)
    else:
        ops = connection.ops

        def stamp(ts):
            return None if ts is None else ops.adapt_datetimefield_value(to_datetime(ts))

    return stamp, history_sql.encode_json


def _sqlite_stamp(zone):
    """Epoch seconds -> what the SQLite backend makes of an aware datetime (naive, in
    the database's zone, as text), without its checks and conversions (5 % of the
    GIL's time under load, several times per call), each second's text made once."""
    seconds = {}  # whole second -> its text

    def stamp(ts):
        if ts is None:
            return None
        fraction, whole = math.modf(ts)
        micro = round(fraction * 1e6)  # as datetime rounds: half to even
        if not 0 <= micro < 1_000_000:  # carried into the next second, or before 1970
            return str(datetime.fromtimestamp(ts, zone).replace(tzinfo=None))
        text = seconds.get(whole)
        if text is None:
            text = seconds[whole] = str(datetime.fromtimestamp(whole, zone).replace(tzinfo=None))
        return f"{text}.{micro:06d}" if micro else text

    return stamp


def call_id_taken(call_id):
    return Call.objects.filter(call_id=call_id).exists()


def _stored_body(body, keep_sdp):
    """Event bodies keep SDPs only with KEEP_SDP: an `answer` is replaced by whether it had one."""
    if keep_sdp or "answer" not in body:
        return body
    return {**body, "answer": {"kept": False} if body["answer"] else {}}


def end_orphan_call(call, code, reason):
    """End a call whose owner process died; return (seq, waiting legs) for the notifier.

    Runs inside the reaper, which claimed the dead process, so no one else ends it.
    """
    now = timezone.now()
    with transaction.atomic():
        waiting = list(call.legs.filter(state__in=["invited", "accepted", "ringing"]))
        call.legs.filter(pk__in=[leg.pk for leg in waiting]).update(state="cancelled", ended_at=now)
        call.legs.filter(state="answered", ended_at=None).update(ended_at=now)
        seq = (call.events.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
        CallEvent.objects.create(call=call, seq=seq, type="hangup",
                                 body={"code": code, "reason": reason}, at=now)
        Call.objects.filter(pk=call.pk).update(
            state=Call.State.ENDED, ended_at=now, hangup_code=code, hangup_reason=reason
        )
    return waiting


def request_hangup(call, *, user, code=None, reason=None):
    """Ask the owner of a live call to hang it up (from the API or the admin).

    The owner carries it out as if `user` had sent `hangup` over the WebSocket.
    """
    message = {
        "type": "call.command",
        "call_id": call.call_id,
        "cmd": "hangup",
        "data": {"code": code, "error": reason},
        "actor": {"user": user.get_username(), "session_id": "", "is_staff": user.is_staff},
        "reply_to": None,
        "ref": None,
    }
    async_to_sync(get_channel_layer().send)(call.owner_channel, message)


def prune_calls(before, *, dry_run=False, batch_size=500):
    """Delete calls that ended before `before`, with their legs and events.

    Return {"calls", "legs", "events"} counts (what would go, with `dry_run`).
    """
    old = Call.objects.filter(state=Call.State.ENDED, ended_at__lt=before)
    counts = {
        "calls": old.count(),
        "legs": CallLeg.objects.filter(call__in=old).count(),
        "events": CallEvent.objects.filter(call__in=old).count(),
    }
    if not dry_run:
        while batch := list(old.values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                CallEvent.objects.filter(call_id__in=batch).delete()
                CallLeg.objects.filter(call_id__in=batch).delete()
                Call.objects.filter(pk__in=batch).delete()
    return counts

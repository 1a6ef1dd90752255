"""Writes of the call history (shared by consumer, reaper, API, admin, commands)."""

import json
from datetime import datetime, timezone as dt_timezone

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from .conf import calls_settings
from .models import Call, CallEvent, CallLeg


def to_datetime(ts):
    return datetime.fromtimestamp(ts, tz=dt_timezone.utc)


def record_call_starts(starts):
    """Write new calls and their legs as `start` creates them; return {call_id: pk}.

    `starts` is a list of (call_id, fields); the fields name the Call's columns,
    plus `legs`: (session_id, user_pk, protocol, channel, state, invited_at) tuples.
    Times are epoch seconds. Two multi-row inserts for a whole batch; runs inside
    the history writer's transaction.
    """
    keep = calls_settings.KEEP_SDP
    calls = [
        Call(call_id=call_id, caller_id=f["caller_id"], caller_session_id=f["caller_session_id"],
             callee=f["callee"], callee_type=f["callee_type"], ring_time=f["ring_time"],
             started_at=to_datetime(f["started_at"]), meta=f["meta"], has_offer=bool(f["offer"]),
             offer=f["offer"] if keep and f["offer"] else None,
             owner_channel=f["owner_channel"], owner_server_id=f["owner_server_id"])
        for call_id, f in starts
    ]
    Call.objects.bulk_create(calls)  # sets each pk (RETURNING, on SQLite and PostgreSQL)
    CallLeg.objects.bulk_create(
        CallLeg(call_id=call.pk, user_id=user_pk, session_id=session_id, protocol=protocol,
                channel_name=channel, state=state, invited_at=to_datetime(invited_at))
        for call, (_, f) in zip(calls, starts)
        for session_id, user_pk, protocol, channel, state, invited_at in f["legs"]
    )
    return {call.call_id: call.pk for call in calls}


def record_call_changes(changes):
    """Record what inputs did to calls: `changes` is a list of (call pk, writes), in order.

    Each `writes` is a list of tuples built by the runtime from the machine's effects:
    ("leg", session_id, state, ended_at), ("event", seq, type, body, at),
    ("answer", session_id, user_pk, answer, at), ("end", code, reason, at); times in
    epoch seconds. A whole batch of calls costs a few statements: this is the hot
    path of every call, so the updates are plain `executemany` SQL. Runs inside the
    history writer's transaction.
    """
    keep = calls_settings.KEEP_SDP
    stamp = connection.ops.adapt_datetimefield_value
    legs, events, answers, ends = {}, [], [], []
    for call_pk, writes in changes:
        for write in writes:
            kind = write[0]
            if kind == "leg":  # only a leg's last state in the batch matters
                _, session_id, state, ended_at = write
                legs[call_pk, session_id] = (state, stamp(to_datetime(ended_at)) if ended_at else None)
            elif kind == "event":
                _, seq, type_, body, at = write
                events.append(CallEvent(call_id=call_pk, seq=seq, type=type_,
                                        body=_stored_body(body, keep), at=to_datetime(at)))
            elif kind == "answer":
                _, session_id, user_pk, answer, at = write
                answers.append((Call.State.ANSWERED, stamp(to_datetime(at)), user_pk, session_id,
                                bool(answer), _json(answer if keep and answer else None), call_pk))
            elif kind == "end":
                _, code, reason, at = write
                ends.append((Call.State.ENDED, stamp(to_datetime(at)), code, reason, call_pk))
    call_table, leg_table = Call._meta.db_table, CallLeg._meta.db_table
    with connection.cursor() as cursor:
        if legs:
            cursor.executemany(
                f"UPDATE {leg_table} SET state = %s, ended_at = %s WHERE call_id = %s AND session_id = %s",
                [(state, ended_at, pk, session_id) for (pk, session_id), (state, ended_at) in legs.items()],
            )
        if answers:
            cursor.executemany(
                f"UPDATE {call_table} SET state = %s, answered_at = %s, answered_by_id = %s, "
                "answered_session_id = %s, has_answer = %s, answer = %s WHERE id = %s",
                answers,
            )
        if ends:
            cursor.executemany(
                f"UPDATE {call_table} SET state = %s, ended_at = %s, hangup_code = %s, "
                "hangup_reason = %s WHERE id = %s",
                ends,
            )
    if events:
        CallEvent.objects.bulk_create(events)


def _json(value):
    return None if value is None else json.dumps(value)


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

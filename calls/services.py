"""Writes of the call history (shared by consumer, reaper, API, admin, commands)."""

from datetime import datetime, timezone as dt_timezone

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from .conf import calls_settings
from .models import Call, CallEvent, CallLeg


class CallIdTaken(Exception):
    """A `start` named a call id that the history already has."""


def to_datetime(ts):
    return datetime.fromtimestamp(ts, tz=dt_timezone.utc)


def create_call(*, machine, caller_user, callee, callee_type, offer, meta, owner_channel,
                owner_server_id, leg_users):
    """Write a call and its legs as `start` creates them; return the call's pk.

    `leg_users` maps each leg's session id to its user object.
    """
    keep = calls_settings.KEEP_SDP
    try:
        with transaction.atomic():
            call = Call.objects.create(
                call_id=machine.call_id, caller=caller_user,
                caller_session_id=machine.caller.session_id, callee=callee,
                callee_type=callee_type, ring_time=machine.ring_time,
                started_at=to_datetime(machine.started_at), meta=meta,
                has_offer=bool(offer), offer=offer if keep and offer else None,
                owner_channel=owner_channel, owner_server_id=owner_server_id,
            )
            CallLeg.objects.bulk_create(
                CallLeg(
                    call=call, user_id=leg_users[leg.session_id], session_id=leg.session_id,
                    protocol=leg.protocol, channel_name=leg.channel, state=leg.state,
                    invited_at=to_datetime(leg.invited_at),
                )
                for leg in machine.legs.values()
            )
    except IntegrityError:
        raise CallIdTaken(machine.call_id) from None
    return call.pk


def apply_call_writes(call_pk, writes):
    """Record what one input did to a call, in one transaction.

    `writes` is a list of tuples built by the runtime from the machine's effects:
    ("leg", session_id, state, ended_at), ("event", seq, type, body, at),
    ("answer", session_id, user_pk, answer, at), ("end", code, reason, at).
    """
    keep = calls_settings.KEEP_SDP
    with transaction.atomic():
        events = []
        for write in writes:
            kind = write[0]
            if kind == "leg":
                _, session_id, state, ended_at = write
                CallLeg.objects.filter(call_id=call_pk, session_id=session_id).update(
                    state=state, ended_at=to_datetime(ended_at) if ended_at else None
                )
            elif kind == "event":
                _, seq, type_, body, at = write
                events.append(CallEvent(call_id=call_pk, seq=seq, type=type_,
                                        body=_stored_body(body, keep), at=to_datetime(at)))
            elif kind == "answer":
                _, session_id, user_pk, answer, at = write
                Call.objects.filter(pk=call_pk).update(
                    state=Call.State.ANSWERED, answered_at=to_datetime(at),
                    answered_by_id=user_pk, answered_session_id=session_id,
                    has_answer=bool(answer), answer=answer if keep and answer else None,
                )
            elif kind == "end":
                _, code, reason, at = write
                Call.objects.filter(pk=call_pk).update(
                    state=Call.State.ENDED, ended_at=to_datetime(at),
                    hangup_code=code, hangup_reason=reason,
                )
        if events:
            CallEvent.objects.bulk_create(events)


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

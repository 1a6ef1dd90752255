"""Sending events to their subscribers over the channel layer, on every process."""

import itertools
import uuid

from .subscriptions import groups_for_event

_PREFIX = uuid.uuid4().hex[:12]
_counter = itertools.count()


def event_data(cls, subclass, type_, obj_id, body):
    return {"class": cls, "subclass": subclass, "type": type_, "obj_id": obj_id, "body": body}


async def emit(layer, data):
    """Send an event (its `data` dict) to every connection subscribed to it.

    It goes to the group of each (class, obj_id) pattern it matches: in one go
    where the layer can (ours), else group by group, and a connection in several
    of them drops the copies by the event's id.
    """
    message = {"type": "event.deliver", "id": f"{_PREFIX}{next(_counter)}", "event": data}
    groups = groups_for_event((data["class"], data["subclass"], data["type"], data["obj_id"]))
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        await send_many(groups, message)
    else:
        for group in groups:
            await layer.group_send(group, message)


def leg_hangup(call_id, code, reason):
    """The channel message telling an invited session its leg of a call ended."""
    return {"type": "call.leg_hangup", "call_id": call_id, "code": code, "reason": reason}


async def emit_call_event(layer, call_id, type_, body):
    await emit(layer, event_data("media", "call", type_, call_id, body))

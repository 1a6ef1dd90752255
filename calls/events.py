"""Sending events to their subscribers over the channel layer, on every process."""

import contextlib
import itertools
import uuid

from channels.exceptions import ChannelFull

from .subscriptions import groups_for_event

_PREFIX = uuid.uuid4().hex[:12]
_counter = itertools.count()


def event_data(cls, subclass, type_, obj_id, body):
    return {"class": cls, "subclass": subclass, "type": type_, "obj_id": obj_id, "body": body}


def event_message(data):
    """The channel message carrying an event, with the id its receivers drop copies by."""
    return {"type": "event.deliver", "id": f"{_PREFIX}{next(_counter)}", "event": data}


async def emit(layer, data, also=()):
    """Send an event (its `data` dict) to every connection subscribed to it.

    It goes to the group of each (class, obj_id) pattern it matches, and to the
    channels `also` names (a call's held subscribers): in one go where the layer
    can (ours), else one by one, and a connection reached twice drops the copy
    by the event's id.
    """
    await send_event_message(layer, event_message(data), also)


async def send_event_message(layer, message, also=()):
    data = message["event"]
    groups = groups_for_event((data["class"], data["subclass"], data["type"], data["obj_id"]))
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        await send_many(groups, message, also)
        return
    for group in groups:
        await layer.group_send(group, message)
    await send_to_each(layer, also, message)


async def send_to_each(layer, channels, message):
    """Send a message to each channel; one that stopped reading misses it, as in a group."""
    for channel in channels:
        with contextlib.suppress(ChannelFull):
            await layer.send(channel, message)


def leg_hangup(call_id, code, reason):
    """The channel message telling an invited session its leg of a call ended."""
    return {"type": "call.leg_hangup", "call_id": call_id, "code": code, "reason": reason}


async def emit_call_event(layer, call_id, type_, body, held=()):
    """A call's event, to its subscribers: `held` are those its owner keeps (start, answered)."""
    await emit(layer, event_data("media", "call", type_, call_id, body), held)

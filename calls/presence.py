"""This server process among the others: identity, heartbeat, and reaping dead processes.

Each process beats in the database at a steady pace. A process whose beat goes
stale is taken as dead by the survivors: one of them claims it, closes its
registrations, ends the calls it owned (100009) and tells the owners of calls
that had a session there that the session is gone.
"""

import asyncio
import logging
import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from registrations import services as registration_services

from . import events, services
from .conf import calls_settings
from .models import Call, CallLeg
from .protocol import ERRORS

log = logging.getLogger(__name__)

SERVER_ID = uuid.uuid4().hex
PROCESS_FAILED = 100009
ORIGINATOR_CANCEL = 305007

_beat_task = None


async def ensure_running():
    """Start the heartbeat of this process on the running loop, once.

    The first beat is written before this returns, so that every registration
    names a process the others know of, and can reap if it dies.
    """
    global _beat_task
    loop = asyncio.get_running_loop()
    if _beat_task is None or _beat_task.done() or _beat_task.get_loop() is not loop:
        _beat_task = loop.create_task(_beat_forever())
        await database_sync_to_async(registration_services.beat)(SERVER_ID)


async def _beat_forever():
    loop, sessions_due = asyncio.get_running_loop(), 0.0
    while True:
        try:
            sessions = loop.time() >= sessions_due
            if sessions:
                sessions_due = loop.time() + calls_settings.LAST_SEEN_INTERVAL
            dead = await database_sync_to_async(_beat_and_claim)(sessions)
            for server_id in dead:
                await reap(server_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("heartbeat failed")
        await asyncio.sleep(calls_settings.HEARTBEAT_INTERVAL)


def _beat_and_claim(sessions=True):
    registration_services.beat(SERVER_ID, sessions)
    return registration_services.claim_dead_servers(SERVER_ID, calls_settings.HEARTBEAT_STALE)


def _plan_reaping(server_id):
    """End what the dead process owned in the database; return what to tell the living."""
    dead_channels = set(
        registration_services.Registration.objects.filter(
            server_id=server_id, disconnected_at=None
        ).values_list("channel_name", flat=True)
    )
    registration_services.close_server_sessions(server_id)
    orphans = []
    for call in Call.objects.filter(owner_server_id=server_id).exclude(state=Call.State.ENDED):
        # The dead owner held the answering session's subscription: tell it here.
        answered = list(call.legs.filter(state="answered").values_list("channel_name", flat=True))
        waiting = services.end_orphan_call(call, PROCESS_FAILED, ERRORS[PROCESS_FAILED])
        orphans.append((call.call_id, [leg.channel_name for leg in waiting], answered))
    stranded = list(
        CallLeg.objects.filter(channel_name__in=dead_channels)
        .exclude(call__state=Call.State.ENDED)
        .exclude(call__owner_server_id=server_id)
        .values_list("call__owner_channel", "call__call_id", "session_id")
    )
    return orphans, stranded


async def reap(server_id):
    """Close a dead process's sessions and calls, telling the surviving parties."""
    log.warning("server process %s is gone; ending its calls and sessions", server_id)
    orphans, stranded = await database_sync_to_async(_plan_reaping)(server_id)
    layer = get_channel_layer()
    for call_id, waiting_channels, answered_channels in orphans:
        await events.emit_call_event(layer, call_id, "hangup",
                                     {"code": PROCESS_FAILED, "reason": ERRORS[PROCESS_FAILED]},
                                     held=answered_channels)
        for channel in waiting_channels:
            await layer.send(channel, events.leg_hangup(call_id, ORIGINATOR_CANCEL,
                                                        ERRORS[ORIGINATOR_CANCEL]))
    for owner_channel, call_id, session_id in stranded:
        await layer.send(owner_channel, {"type": "call.party_gone", "call_id": call_id,
                                         "session_id": session_id, "process_died": True})

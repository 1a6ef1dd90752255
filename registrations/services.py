"""Writes of registrations and server processes (shared by consumer, API, admin, commands)."""

import os
import socket

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Registration, ServerProcess


class DuplicateSession(Exception):
    """The session id is already live."""


def register_session(*, user, session_id, channel_name, server_id, remote="", user_agent="",
                     meta=None, protocol=Registration.Protocol.API):
    now = timezone.now()
    try:
        with transaction.atomic():
            return Registration.objects.create(
                user=user, session_id=session_id, protocol=protocol,
                remote=remote[:200], user_agent=user_agent[:400], meta=meta or {},
                channel_name=channel_name, server_id=server_id,
                connected_at=now, last_seen_at=now,
            )
    except IntegrityError:
        raise DuplicateSession(session_id) from None


def close_session(registration_id):
    now = timezone.now()
    Registration.objects.filter(pk=registration_id, disconnected_at=None).update(
        disconnected_at=now, last_seen_at=now
    )


def beat(server_id, sessions=True):
    """Record that this process is alive, and (with `sessions`) that its sessions are."""
    now = timezone.now()
    updated = ServerProcess.objects.filter(pk=server_id).update(last_beat_at=now)
    if not updated:
        ServerProcess.objects.create(
            server_id=server_id, hostname=socket.gethostname(), pid=os.getpid(),
            started_at=now, last_beat_at=now,
        )
    if sessions:
        Registration.objects.filter(server_id=server_id, disconnected_at=None).update(last_seen_at=now)


def claim_dead_servers(server_id, stale_after):
    """Mark every other process whose beat is stale as stopped; return the ids this call claimed.

    The conditional update makes one surviving process the reaper of each dead one.
    """
    cutoff = timezone.now() - timezone.timedelta(seconds=stale_after)
    claimed = []
    stale = ServerProcess.objects.filter(stopped_at=None, last_beat_at__lt=cutoff).exclude(pk=server_id)
    for dead_id in stale.values_list("pk", flat=True):
        if ServerProcess.objects.filter(pk=dead_id, stopped_at=None).update(stopped_at=timezone.now()):
            claimed.append(dead_id)
    return claimed


def close_server_sessions(server_id):
    """Close every live registration of a process; return their session ids."""
    live = Registration.objects.filter(server_id=server_id, disconnected_at=None)
    session_ids = list(live.values_list("session_id", flat=True))
    live.update(disconnected_at=timezone.now())
    return session_ids


def stop_sessions(registrations):
    """Ask each live session among `registrations` to stop (as `core/session/stop` does); return how many."""
    layer = get_channel_layer()
    live = [r.channel_name for r in registrations if r.disconnected_at is None and r.channel_name]
    for channel_name in live:
        async_to_sync(layer.send)(channel_name, {"type": "session.stop"})
    return len(live)


def prune_registrations(before, *, dry_run=False):
    """Delete registrations of sessions that ended before `before`; return how many (would) go."""
    old = Registration.objects.filter(disconnected_at__lt=before)
    count = old.count()
    if not dry_run:
        old.delete()
    return count

"""Shared pieces of the end-to-end tests."""

import asyncio
import contextlib
import os
import struct
import uuid

from calls.client import ClientError, SignalingClient

from ..conftest import PASSWORD


def unique(prefix="s"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def sessions(server_url, *users, invite_answer="ok"):
    """Logged-in clients, one per user name (a name may repeat: several devices)."""
    clients = []
    try:
        for user in users:
            client = await SignalingClient.connect(server_url, invite_answer=invite_answer)
            clients.append(client)
            await client.login(user, password=PASSWORD, session_id=unique(user))
        yield clients
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


async def error_code(coro):
    try:
        await coro
    except ClientError as exc:
        return exc.code
    raise AssertionError("expected an error response")


async def wait_closed(client, timeout=5):
    return await asyncio.wait_for(asyncio.shield(client.closed), timeout)


def frame(payload, opcode=1, fin=True):
    """A masked client frame."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((opcode | (0x80 if fin else 0), 0x80 | length))
    elif length < 65536:
        head = struct.pack("!BBH", opcode | (0x80 if fin else 0), 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", opcode | (0x80 if fin else 0), 0x80 | 127, length)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

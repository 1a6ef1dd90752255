"""Shared pieces of the end-to-end tests."""

import asyncio
import contextlib
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

"""Small pieces shared by the consumer's handler mixins."""

import asyncio
import functools

from channels.db import database_sync_to_async

# A handler's result when it answers the request later, from a channel-layer reply.
DEFERRED = object()


def db(func):
    """Run a sync database function from async code, in Django's database thread.

    In a task of its own, which runs in a copy of the caller's context: asgiref
    copies the context variables the thread set back into the context it runs
    in, which for a connection's task made that 240 bytes larger for as long as
    it lived.
    """
    run = _sync_to_async(func)
    return lambda *args, **kwargs: asyncio.ensure_future(run(*args, **kwargs))


@functools.cache  # the functions handlers call: asgiref checks and wraps each one once
def _sync_to_async(func):
    return database_sync_to_async(func)


def seen_recently(recent, key, keep=64):
    """Whether `key` is in the dict `recent`; remember it there, keeping the last `keep`."""
    if key in recent:
        return True
    recent[key] = None
    if len(recent) > keep:
        del recent[next(iter(recent))]
    return False


def per_event_loop(factory):
    """A function giving one factory(loop) object per running event loop (tests run several)."""
    made = {}

    def get():
        loop = asyncio.get_running_loop()
        found = made.get(loop)
        if found is None:
            for old in [lp for lp in made if lp.is_closed()]:
                del made[old]
            found = made[loop] = factory(loop)
        return found

    return get

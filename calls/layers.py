"""An in-memory channel layer for one process that stays fast with thousands of connections.

channels' InMemoryChannelLayer scans every channel and group membership on each
receive and group send, starts a task per member on a group send and deep-copies
every message: its cost grows with the number of connections. This one does the
expiry scan at most once a second and delivers group messages directly.

Messages are not copied: a receiver must not change a message it got (as with
our consumers). Use it like the original:

    CHANNEL_LAYERS = {"default": {"BACKEND": "calls.layers.InMemoryChannelLayer"}}
"""

import asyncio
import contextlib
import logging
import time
import weakref

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

CLEAN_EVERY = 1.0  # seconds between expiry scans

log = logging.getLogger(__name__)


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._next_clean = 0.0
        self._inboxes = {}  # channel -> queue of a consumer that reads all its messages there

    def attach(self, channel, inbox):
        """Deliver the channel's messages straight into `inbox` from now on.

        For a consumer that merges its client's frames and its channel's messages
        into one inbox (anything with `put_nowait` and `qsize`): no receive task in
        between. Returns True: every message of the channel now arrives there.
        """
        self._inboxes[channel] = inbox
        return True

    def detach(self, channel):
        self._inboxes.pop(channel, None)

    def _put(self, channel, expires, message):
        inbox = self._inboxes.get(channel)
        if inbox is not None:
            if inbox.qsize() >= self.get_capacity(channel):
                raise ChannelFull(channel)
            inbox.put_nowait(message)
        else:
            self._queue(channel).put_nowait((expires, message))

    def _queue(self, channel):
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _clean_now_and_then(self):
        now = time.monotonic()
        if now >= self._next_clean:
            self._next_clean = now + CLEAN_EVERY
            self._clean_expired()

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        if channel not in self._inboxes:  # an attached channel is one new_channel named
            self.require_valid_channel_name(channel)
        try:
            self._put(channel, time.time() + self.expiry, message)
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    def _require_valid_names(self, group, channel):
        self.require_valid_group_name(group)
        if channel not in self._inboxes:  # as in send: an attached channel is valid
            self.require_valid_channel_name(channel)

    async def group_add(self, group, channel):
        self._require_valid_names(group, channel)
        self.groups.setdefault(group, {})[channel] = time.time()

    async def group_discard(self, group, channel):
        self._require_valid_names(group, channel)
        members = self.groups.get(group)
        if members:
            members.pop(channel, None)
            if not members:
                del self.groups[group]

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        self._clean_now_and_then()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_now_and_then()
        expires = time.time() + self.expiry
        for channel in list(self.groups.get(group, ())):
            try:
                self._put(channel, expires, message)
            except (asyncio.QueueFull, ChannelFull):
                pass  # as channels' layers do: a full member misses a group message

    async def group_send_many(self, groups, message, also=()):
        """Send a message once to every channel in any of `groups` or in `also`."""
        self._clean_now_and_then()
        expires = time.time() + self.expiry
        members = set(also)
        for group in groups:
            members.update(self.groups.get(group, ()))
        for channel in members:
            try:
                self._put(channel, expires, message)
            except (asyncio.QueueFull, ChannelFull):
                pass


try:
    from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
    from redis.connection import HiredisRespSerializer
    from redis.exceptions import ResponseError
    from redis.utils import HIREDIS_AVAILABLE
except ImportError:  # the Redis extra is not installed
    ChannelsRedisChannelLayer = None

# One message onto a named channel's key (one without "!"), within capacity, dropping
# expired ones first: what channels-redis' send does in four round trips. Returns 1 when full.
_SEND_LUA = """
    local now, expiry = tonumber(ARGV[3]), tonumber(ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - expiry)
    if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[2]) then
        return 1
    end
    redis.call('ZADD', KEYS[1], now, ARGV[1])
    redis.call('EXPIRE', KEYS[1], expiry)
    return 0
"""

# Every member of the given groups, each once: an event's fan-out in one command
# (a pipeline of a ZRANGE per group cost the client four commands to pack and parse).
_MEMBERS_LUA = """
    local seen, members = {}, {}
    for i = 1, #KEYS do
        for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
            if not seen[member] then
                seen[member] = true
                members[#members + 1] = member
            end
        end
    end
    return members
"""

READ_AT_ONCE = 256  # stored messages a process's reader takes from Redis in one round trip


class CommandBatches:
    """Redis commands issued in one pass of the event loop, sent as one pipeline per connection.

    Under load many consumers talk to Redis in the same pass (a history batch
    lets dozens of starts go on at once); alone, each command cost a pool
    checkout and a socket write of its own (in a profile of two processes the
    writes alone were 13-24 % of their CPU). A pipeline keeps the commands'
    order; each caller gets its own command's result or error. One batch per
    client is on its way at a time, so Redis runs the commands in the order they
    were issued (what a process publishes arrives in that order).
    """

    def __init__(self):
        self._pending = weakref.WeakKeyDictionary()  # Redis client (one per loop) -> [(args, future)]
        self._in_flight = weakref.WeakSet()  # clients whose batches are being sent
        self._running = set()  # the loop keeps only weak references to tasks

    def run(self, client, *args):
        """Queue a command on `client` for the end of this pass; await the result."""
        loop = asyncio.get_running_loop()
        batch = self._pending.get(client)
        if batch is None:
            batch = self._pending[client] = []
            if client not in self._in_flight:
                self._in_flight.add(client)
                loop.call_soon(self._start, client)
        future = loop.create_future()
        batch.append((args, future))
        return future

    def _start(self, client):
        task = asyncio.ensure_future(self._send_all(client))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _send_all(self, client):
        """Send the client's batches one after another, while there are any, on one connection:
        a pool checkout and release cost about as much as a small batch's own work."""
        pool, connection = client.connection_pool, None
        try:
            while (batch := self._pending.pop(client, None)) is not None:
                try:
                    if connection is None:
                        connection = await pool.get_connection()
                    results = await self._execute(connection, batch)
                except BaseException as exc:
                    if connection is not None:  # its unread replies would go to the next command
                        await connection.disconnect(nowait=True)
                        await pool.release(connection)
                        connection = None
                    if isinstance(exc, asyncio.CancelledError):  # the loop is going away: so do its callers
                        for _, future in batch:
                            future.cancel()
                        raise
                    results = [exc] * len(batch)  # the connection failed: every command of the batch did
                for (_, future), result in zip(batch, results):
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._in_flight.discard(client)
            if connection is not None:  # idle: back to the pool, which checks it before its next use
                await pool.release(connection)

    @staticmethod
    async def _execute(connection, batch):
        """One batch's replies, straight on the connection: redis-py's Pipeline object, retry
        wrapper and response callbacks cost more than the commands (replies are used raw)."""
        await connection.send_packed_command(connection.pack_commands([args for args, _ in batch]))
        results = []
        for _ in batch:
            try:
                results.append(await connection.read_response())
            except ResponseError as error:
                results.append(error)
        return results


if ChannelsRedisChannelLayer is not None:

    class HiredisPacking:
        """Commands packed in C, as redis-py's sync client does when hiredis is installed.

        Its asyncio client packs in Python (redis/redis-py#4176): a third of the
        client's CPU per command in our pipelines. Mixed into the pool's own
        connection class, so TLS and Unix-socket connections keep theirs.
        """

        _packer = HiredisRespSerializer()

        def pack_command(self, *args):
            return self._packer.pack(*args)

    def with_hiredis_packing(pool):
        cls = pool.connection_class
        if HIREDIS_AVAILABLE and not issubclass(cls, HiredisPacking):
            pool.connection_class = type(f"HiredisPacking{cls.__name__}", (HiredisPacking, cls), {})
        return pool

    class RedisChannelLayer(ChannelsRedisChannelLayer):
        """channels-redis, made cheaper for many consumers in one process.

        - A process's consumers get their messages as Redis pub/sub messages on
          the process's own Redis channel, pushed as they are published: one
          reader task per process hands each to its consumer. channels-redis
          stores them in a sorted set popped by two tasks and an `asyncio.wait`
          per receiving consumer, four round trips a message. Our messages are
          not stored: one for a process that is not subscribed (it died, or its
          reader is reconnecting) is dropped, which the protocol's reaper covers,
          and a consumer's capacity is enforced where its messages arrive. What
          a plain channels-redis layer sends them (another program on the same
          Redis) is stored as channels-redis stores it, and a second reader pops
          it; the other way round does not work: a process whose consumers run
          on plain channels-redis does not hear from this layer.
        - A message for a consumer of this very process is put in its inbox
          (see `attach`) instead of travelling through Redis and back.
        - `send` and `group_add` take one round trip each (channels-redis: four and two),
          and the commands of one pass of the event loop share it (CommandBatches).
        - `group_send_many`: an event goes to the group of each subscription
          pattern it matches (four groups), whose members one script lists,
          then once to each process with members; `group_send` would take two
          to four round trips per group, and deliver twice to a channel in two of them.

        Channels named without "!" (not a consumer's) work as in channels-redis.
        """

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._inboxes = {}  # local channel -> its consumer's inbox
            self._detached = {}  # channel -> when its consumer went, oldest first (kept `expiry` s)
            self._reader = self._subscribed = self._stored_reader = None
            self._batches = CommandBatches()

        def create_pool(self, index):
            return with_hiredis_packing(super().create_pool(index))

        def _command(self, index, *args):
            """Run a command on connection `index` with the others of this loop pass."""
            return self._batches.run(self.connection(index), *args)

        def _publish(self, process, channels, message):
            """Publish `message` for `channels` to the process named `process` (a non_local_name)."""
            return self._command(self.consistent_hash(process), "PUBLISH", self.prefix + process,
                                 ",".join(channels).encode() + b"\n" + self.serialize(message))

        @property
        def _own_process(self):
            return f"specific.{self.client_prefix}!"  # what non_local_name gives for our channels

        def attach(self, channel, inbox):
            """Deliver every message for `channel` into `inbox` from now on; returns True."""
            self._inboxes[channel] = inbox
            self._ensure_reader()
            return True

        def detach(self, channel):
            """Its consumer is gone: what still comes for it is dropped, not buffered for nobody."""
            if self._inboxes.pop(channel, None) is None:
                return
            now = time.monotonic()
            self._detached[channel] = now
            # Forget the oldest once anything still for them is older than channels' expiry
            # (the one just added never is, so the loop stops at it).
            while now - next(iter(self._detached.values())) > self.expiry:
                del self._detached[next(iter(self._detached))]

        async def new_channel(self, prefix="specific"):
            """A channel of this process, once the process listens: nobody can send to it before."""
            channel = await super().new_channel(prefix)
            await asyncio.shield(self._ensure_reader())
            return channel

        async def receive(self, channel):
            """A plain consumer's receive: from the reader's buffer, never from Redis itself."""
            if "!" not in channel:
                return await super().receive(channel)
            self._ensure_reader()
            return await self.receive_buffer[channel].get()

        def _ensure_reader(self):
            """Start this loop's readers where they are not running; returns a future of the
            subscription."""
            loop = asyncio.get_running_loop()
            if self._reader is None or self._reader.done() or self._reader.get_loop() is not loop:
                self._subscribed = loop.create_future()
                self._reader = loop.create_task(self._read_forever(self._subscribed))
            stored = self._stored_reader
            if stored is None or stored.done() or stored.get_loop() is not loop:
                self._stored_reader = loop.create_task(self._read_stored_forever())
            return self._subscribed

        async def _read_forever(self, subscribed):
            name = self._own_process
            pubsub = self.connection(self.consistent_hash(name)).pubsub()
            try:
                try:
                    await pubsub.subscribe(self.prefix + name)
                except Exception as exc:  # no Redis: the next new channel tries again
                    subscribed.set_exception(exc)
                    subscribed.exception()  # whoever waits gets it; nobody else must
                    return
                subscribed.set_result(None)
                while True:
                    try:
                        # Raw replies straight from the connection (PubSub.get_message builds
                        # a dict for each message); once it fails, PubSub's own read connects
                        # and subscribes again.
                        try:
                            reply = await pubsub.connection.read_response(push_request=True)
                        except Exception:
                            reply = await pubsub.parse_response(block=True)
                        if reply is not None and reply[0] == b"message":
                            head, _, body = reply[2].partition(b"\n")  # names hold no newline
                            self._hand_over(head.decode().split(","), self.deserialize(body))
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("reading from Redis failed; retrying")
                        await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

        async def _read_stored_forever(self):
            """Pop what plain channels-redis layers stored for this process (blocked, idle, else)."""
            name = self._own_process
            key = self.prefix + name
            connection = self.connection(self.consistent_hash(name))
            many = True  # BZMPOP (Redis 7): what is waiting, in one blocking round trip
            while True:
                try:
                    if many:
                        popped = await connection.bzmpop(self.brpop_timeout, 1, [key], min=True,
                                                         count=READ_AT_ONCE)
                        members = [member for member, _ in popped[1]] if popped else []
                    else:
                        popped = await connection.bzpopmin(key, timeout=self.brpop_timeout)
                        members = [popped[1]] if popped else []
                        if members:
                            members += [m for m, _ in await connection.zpopmin(key, count=READ_AT_ONCE)]
                    for member in members:
                        message = self.deserialize(member)
                        channels = message.pop("__asgi_channel__", ())
                        self._hand_over([channels] if isinstance(channels, str) else channels, message)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if many and isinstance(exc, ResponseError):
                        many = False  # Redis before 7 has no BZMPOP: a blocking pop of one, then the rest
                        continue
                    log.exception("reading from Redis failed; retrying")
                    await asyncio.sleep(0.5)

        async def close_pools(self):
            for reader in (self._reader, self._stored_reader):
                if reader is not None and not reader.done() and reader.get_loop() is asyncio.get_running_loop():
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
            await super().close_pools()

        def _hand_over(self, channels, message):
            for channel in channels:
                try:
                    if not self._put_local(channel, message) and channel not in self._detached:
                        self.receive_buffer[channel].put_nowait(message)
                except ChannelFull:
                    pass  # that consumer stopped reading: drop, as channels-redis does

        def _put_local(self, channel, message):
            inbox = self._inboxes.get(channel)
            if inbox is None:
                return False
            if inbox.qsize() >= self.get_capacity(channel):
                raise ChannelFull(channel)
            inbox.put_nowait(message)
            return True

        async def send(self, channel, message):
            if self._put_local(channel, message):
                return
            assert isinstance(message, dict), "message is not a dict"
            assert self.require_valid_channel_name(channel), "Channel name not valid"
            if "!" in channel:  # a consumer's channel: published to its process
                await self._publish(self.non_local_name(channel), [channel], message)
                return
            full = await self._command(
                next(self._send_index_generator), "EVAL", _SEND_LUA, 1, self.prefix + channel,
                self.serialize(message), self.get_capacity(channel), time.time(), int(self.expiry),
            )
            if full:
                raise ChannelFull(channel)

        async def group_add(self, group, channel):
            """channels-redis' group_add in one round trip instead of two."""
            assert self.require_valid_group_name(group), "Group name not valid"
            assert self.require_valid_channel_name(channel), "Channel name not valid"
            index, key = self.consistent_hash(group), self._group_key(group)
            await asyncio.gather(self._command(index, "ZADD", key, time.time(), channel),
                                 self._command(index, "EXPIRE", key, self.group_expiry))

        async def group_discard(self, group, channel):
            """channels-redis' group_discard, sent with the other commands of this loop pass."""
            assert self.require_valid_group_name(group), "Group name not valid"
            assert self.require_valid_channel_name(channel), "Channel name not valid"
            await self._command(self.consistent_hash(group), "ZREM", self._group_key(group), channel)

        async def group_send_many(self, groups, message, also=()):
            """Send a message once to every channel in any of `groups` or in `also`."""
            channel_names = set(also)
            by_connection = {}
            for group in groups:
                assert self.require_valid_group_name(group), "Group name not valid"
                by_connection.setdefault(self.consistent_hash(group), []).append(group)
            for index, members_of in by_connection.items():
                keys = [self._group_key(group) for group in members_of]
                names = await self._command(index, "EVAL", _MEMBERS_LUA, len(keys), *keys)
                channel_names.update(name.decode("utf8") for name in names)
            by_process, named = {}, []
            for channel in channel_names:
                try:
                    if self._put_local(channel, message):
                        continue
                except ChannelFull:
                    continue  # as channels' layers do: a full member misses a group message
                if "!" in channel:
                    by_process.setdefault(self.non_local_name(channel), []).append(channel)
                else:
                    named.append(channel)
            await asyncio.gather(*(self._publish(process, channels, message)
                                   for process, channels in by_process.items()))
            for channel in named:
                with contextlib.suppress(ChannelFull):
                    await self.send(channel, message)

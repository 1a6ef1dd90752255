"""calls.layers.RedisChannelLayer against a real Redis: sends between two processes' layers."""

import asyncio
import gc
import os

import pytest
from channels.exceptions import ChannelFull
from django.conf import settings

from calls.consumer import Inbox
from calls.layers import RedisChannelLayer

from .conftest import _redis_reachable


@pytest.fixture
def redis_url():
    url = settings.CLUSTER_REDIS_URL
    if not _redis_reachable(url):
        message = f"Redis not reachable at {url}"
        if os.environ.get("CALLS_REQUIRE_CLUSTER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    yield url
    _redis_reachable(url)  # flushes the db


@pytest.fixture
async def new_layer(redis_url):
    """Make layers on the test Redis (each stands for a process's); flushed and closed after."""
    made = []

    def new_layer(hosts=None, **config):
        made.append(RedisChannelLayer(hosts=hosts or [redis_url], **config))
        return made[-1]

    yield new_layer
    for layer in made:
        await layer.flush()
        await layer.close_pools()


async def test_a_send_reaches_another_process_in_order_from_the_moment_its_channel_exists(new_layer):
    sender = new_layer()
    receiver = new_layer(capacity=10)
    channel, inbox = await receiver.new_channel(), Inbox()  # listened to once it is returned
    receiver.attach(channel, inbox)
    got = []
    for n in range(5):
        await sender.send(channel, {"type": "test.message", "n": n})
        got.append(await asyncio.wait_for(inbox.get(), 5))
    assert [m["n"] for m in got] == [0, 1, 2, 3, 4]


async def test_sends_of_many_loop_passes_arrive_in_the_order_issued(new_layer):
    sender, receiver = new_layer(), new_layer(capacity=1000)
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    sends = []
    for n in range(300):  # each in a pass of its own, while earlier batches are on their way
        sends.append(asyncio.ensure_future(sender.send(channel, {"type": "test.message", "n": n})))
        await asyncio.sleep(0)
    await asyncio.gather(*sends)
    assert [(await asyncio.wait_for(inbox.get(), 5))["n"] for _ in range(300)] == list(range(300))


async def test_back_to_back_batches_share_one_checkout_and_an_idle_connection_goes_back(new_layer):
    sender, receiver = new_layer(), new_layer(capacity=1000)
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    pool = sender.connection(0).connection_pool
    checkouts = []
    original_get = pool.get_connection

    async def counted_get(*args, **kwargs):
        checkouts.append(1)
        return await original_get(*args, **kwargs)

    pool.get_connection = counted_get
    sends = []
    for n in range(100):  # a pass each: later ones queue while a batch is on its way
        sends.append(asyncio.ensure_future(sender.send(channel, {"type": "test.message", "n": n})))
        await asyncio.sleep(0)
    await asyncio.gather(*sends)
    await asyncio.sleep(0.05)
    assert len(checkouts) == 1
    assert not pool._in_use_connections  # idle: released
    assert [(await asyncio.wait_for(inbox.get(), 5))["n"] for _ in range(100)] == list(range(100))


async def test_a_consumer_that_stops_reading_misses_what_exceeds_its_capacity_and_the_sender_goes_on(
        new_layer):
    sender = new_layer()
    receiver = new_layer(capacity=10)
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    for n in range(15):
        await sender.send(channel, {"type": "test.message", "n": n})
    await asyncio.sleep(0.3)
    assert [(await inbox.get())["n"] for _ in range(inbox.qsize())] == list(range(10))

    gone = new_layer()  # a process that stops: what is sent to it is dropped, without an error
    lost = await gone.new_channel()
    await gone.close_pools()
    await sender.send(lost, {"type": "test.message"})


async def test_a_named_channel_keeps_channels_redis_queue_and_capacity(new_layer):
    sender, receiver = new_layer(capacity=2, expiry=30), new_layer()
    await sender.send("test.named", {"type": "test.message", "n": 1})
    await sender.send("test.named", {"type": "test.message", "n": 2})
    with pytest.raises(ChannelFull):
        await sender.send("test.named", {"type": "test.message", "n": 3})
    assert (await asyncio.wait_for(receiver.receive("test.named"), 5))["n"] == 1


async def test_the_reader_subscribes_again_after_its_connection_is_killed(new_layer):
    sender, receiver = new_layer(), new_layer()
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    await sender.connection(0).client_kill_filter(_type="pubsub")
    for n in range(50):  # until it is back: what is published meanwhile is lost
        await sender.send(channel, {"type": "test.message", "n": n})
        try:
            await asyncio.wait_for(inbox.get(), 0.1)
            break
        except asyncio.TimeoutError:
            pass
    else:
        pytest.fail("the reader did not come back")
    await sender.send(channel, {"type": "test.message", "n": "after"})
    while (await asyncio.wait_for(inbox.get(), 5))["n"] != "after":
        pass  # a late one of the sends above


@pytest.mark.parametrize("bzmpop", [True, False], ids=["redis7", "no-bzmpop"])
async def test_what_a_plain_channels_redis_layer_sends_reaches_a_consumer(
        new_layer, redis_url, bzmpop, monkeypatch):
    from channels_redis.core import RedisChannelLayer as PlainRedisChannelLayer

    if not bzmpop:
        from redis.asyncio import Redis
        from redis.exceptions import ResponseError

        async def no_bzmpop(self, *args, **kwargs):
            raise ResponseError("unknown command 'BZMPOP'")

        monkeypatch.setattr(Redis, "bzmpop", no_bzmpop)
    receiver = new_layer()
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    await receiver.group_add("test.plain", channel)
    plain = PlainRedisChannelLayer(hosts=[redis_url])  # e.g. a worker configured with channels-redis
    try:
        for n in range(3):
            await plain.send(channel, {"type": "test.message", "n": n})
        await plain.group_send("test.plain", {"type": "test.message", "n": "group"})
        got = [(await asyncio.wait_for(inbox.get(), 5))["n"] for _ in range(4)]
        assert got == [0, 1, 2, "group"]
    finally:
        await plain.close_pools()


async def test_an_event_reaches_each_member_of_its_groups_once_here_and_in_another_process(new_layer):
    here = new_layer()
    there = new_layer()
    (near, near_inbox), (far, far_inbox) = [(await layer.new_channel(), Inbox())
                                            for layer in (here, there)]
    here.attach(near, near_inbox)
    there.attach(far, far_inbox)
    for group, channel in (("ev.a", near), ("ev.b", near), ("ev.a", far), ("ev.c", far)):
        await here.group_add(group, channel)
    await here.group_send_many(["ev.a", "ev.b", "ev.empty"], {"type": "test.event", "n": 1})
    await here.group_send_many(["ev.empty"], {"type": "test.event", "n": 2})  # nobody
    await here.group_send_many(["ev.c"], {"type": "test.event", "n": 3})
    assert (await asyncio.wait_for(near_inbox.get(), 5))["n"] == 1
    assert [(await asyncio.wait_for(far_inbox.get(), 5))["n"] for _ in range(2)] == [1, 3]
    await asyncio.sleep(0.2)
    assert near_inbox.qsize() == far_inbox.qsize() == 0  # once each, though in two groups


async def test_commands_of_one_loop_pass_share_one_pipeline_and_keep_their_own_results(
        new_layer, monkeypatch):
    from redis.asyncio.connection import AbstractConnection
    from redis.exceptions import ResponseError

    pipelines = []
    original_pack = AbstractConnection.pack_commands

    def counted_pack(self, commands):
        pipelines.append(len(commands))
        return original_pack(self, commands)

    monkeypatch.setattr(AbstractConnection, "pack_commands", counted_pack)
    sender = new_layer(capacity=20, expiry=30)
    receiver = new_layer(capacity=100, expiry=30)
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    dead = "test.unread"  # a named channel that nobody reads: it fills up
    for _ in range(19):
        await sender.send(dead, {"type": "test.message"})

    async def unknown_command():  # a coroutine, so that it joins the same pass as the sends
        return await sender._command(0, "NO-SUCH-COMMAND")

    pipelines.clear()
    outcomes = await asyncio.gather(
        *(sender.send(channel, {"type": "test.message", "n": n}) for n in range(20)),
        *(sender.send(dead, {"type": "test.message"}) for _ in range(4)),  # 3 over capacity
        unknown_command(),
        sender.group_add("batch.group", channel),
        return_exceptions=True,
    )
    assert pipelines == [20 + 4 + 1 + 2]  # one round trip for all
    assert outcomes[:21] == [None] * 21
    assert all(isinstance(outcome, ChannelFull) for outcome in outcomes[21:24])
    assert isinstance(outcomes[24], ResponseError)
    assert outcomes[25] is None
    got = [(await asyncio.wait_for(inbox.get(), 5))["n"] for _ in range(20)]
    assert got == list(range(20))  # in the order sent
    await sender.group_send_many(["batch.group"], {"type": "test.message", "n": "group"})
    assert (await asyncio.wait_for(inbox.get(), 5))["n"] == "group"


async def test_the_layer_packs_commands_with_hiredis_as_redis_py_packs_them(new_layer):
    from redis.asyncio.connection import Connection

    from calls.layers import HiredisPacking

    layer = new_layer()
    connection = layer.connection(0)
    assert issubclass(connection.connection_pool.connection_class, HiredisPacking)
    python_packed = Connection(encoder_class=type(connection.get_encoder()))
    command = ("EVAL", "return ARGV[1]", 1, b"key\x00\xff", "été ✓", 3, 1796287017.8293884, 0.1)
    assert (b"".join(connection.connection_pool.make_connection().pack_command(*command))
            == b"".join(python_packed.pack_command(*command)))
    assert await connection.eval("return ARGV[1]", 1, "key", "été ✓") == "été ✓".encode()


async def test_a_batch_on_a_connection_that_fails_fails_each_command_and_the_next_batch_reconnects(
        new_layer):
    from redis.exceptions import ConnectionError as RedisConnectionError

    sender, receiver = new_layer(), new_layer()
    channel, inbox = await receiver.new_channel(), Inbox()
    receiver.attach(channel, inbox)
    await sender.send(channel, {"type": "test.message", "n": 0})  # the pool's connection is made
    pool = sender.connection(0).connection_pool
    [connection] = pool._available_connections
    replies = []

    async def drop_after_first_reply(*args, **kwargs):
        replies.append(args)
        if len(replies) == 2:  # mid-batch: the second reply never comes
            raise RedisConnectionError("connection lost")
        return await type(connection).read_response(connection, *args, **kwargs)

    connection.read_response = drop_after_first_reply
    outcomes = await asyncio.gather(
        *(sender.send(channel, {"type": "test.message", "n": n}) for n in (1, 2, 3)),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes)
    assert not connection.is_connected  # dropped, so no later batch reads its leftover replies

    del connection.read_response
    await sender.send(channel, {"type": "test.message", "n": 4})
    got = [(await asyncio.wait_for(inbox.get(), 5))["n"] for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]  # the failed batch had reached Redis: its sends were made


async def test_a_new_channel_fails_while_redis_is_unreachable_and_works_once_it_is_back(new_layer, redis_url):
    from redis.exceptions import ConnectionError as RedisConnectionError

    layer = new_layer(hosts=["redis://127.0.0.1:1/0"])  # nothing listens there
    with pytest.raises(RedisConnectionError):
        await layer.new_channel()
    layer.hosts = RedisChannelLayer(hosts=[redis_url]).hosts  # Redis is back
    layer._layers.clear()
    sender = new_layer()
    channel, inbox = await layer.new_channel(), Inbox()
    layer.attach(channel, inbox)
    await sender.send(channel, {"type": "test.message", "n": 1})
    assert (await asyncio.wait_for(inbox.get(), 5))["n"] == 1


async def test_a_batch_cancelled_mid_way_cancels_its_callers_and_returns_its_connection_once(new_layer):
    sender, receiver = new_layer(), new_layer()
    channel = await receiver.new_channel()
    await sender.send(channel, {"type": "test.message"})  # the pool's connection is made
    pool = sender.connection(0).connection_pool
    [connection] = pool._available_connections

    replies = []

    async def cancelled_after_first(*args, **kwargs):  # as when the loop goes away during a read
        replies.append(args)
        if len(replies) > 1:
            raise asyncio.CancelledError
        return await type(connection).read_response(connection, *args, **kwargs)

    connection.read_response = cancelled_after_first
    unhandled = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
    first = asyncio.ensure_future(sender.send(channel, {"type": "test.message"}))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first batch is on its way: the next ones follow it on its connection
    outcomes = await asyncio.gather(
        first, *(sender.send(channel, {"type": "test.message"}) for _ in range(3)), return_exceptions=True)
    assert outcomes[0] is None
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes[1:])
    await asyncio.sleep(0.05)
    gc.collect()  # a task that ended in an error nobody read reports it now
    del connection.read_response
    assert pool._available_connections == [connection] and not pool._in_use_connections
    assert unhandled == []


async def test_messages_for_a_consumer_that_went_are_dropped_not_buffered(new_layer):
    sender, receiver = new_layer(), new_layer(expiry=1)
    gone, stays, inbox = await receiver.new_channel(), await receiver.new_channel(), Inbox()
    receiver.attach(gone, Inbox())
    receiver.attach(stays, inbox)
    receiver.detach(gone)
    await sender.send(gone, {"type": "test.late"})  # e.g. a reply that crossed the close
    await sender.send(stays, {"type": "test.message"})
    assert (await asyncio.wait_for(inbox.get(), 5))["type"] == "test.message"  # sent after: handed over
    assert gone not in receiver.receive_buffer
    plain = await receiver.new_channel()  # never attached: a plain consumer's, read by receive()
    await sender.send(plain, {"type": "test.early"})
    assert (await asyncio.wait_for(receiver.receive(plain), 5))["type"] == "test.early"
    await asyncio.sleep(1.1)
    receiver.attach(stays, inbox)
    receiver.detach(stays)  # the first to go is forgotten after `expiry`
    assert list(receiver._detached) == [stays]

"""A server's input queue that feeds a consumer's inbox keeps nothing of its own."""

import asyncio

import pytest

from calls.consumer import Inbox, InboxFeed, _feed_directly


async def test_the_queue_hands_everything_to_the_inbox_and_drops_its_deques():
    queue, inbox = asyncio.Queue(), Inbox()
    queue.put_nowait({"type": "websocket.connect"})  # arrived before the consumer started

    assert _feed_directly(queue.get, inbox)

    assert type(queue) is InboxFeed
    assert vars(queue) == {"inbox": inbox}  # no items, getters, putters nor Event deques
    queue.put_nowait({"type": "websocket.receive", "text": "a"})
    await queue.put({"type": "websocket.receive", "text": "b"})  # as channels' communicator puts
    assert [m.get("text") for m in inbox.items] == [None, "a", "b"]
    assert queue.empty() and queue.qsize() == 0 and not queue.full()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    assert "feeding an inbox of 3" in repr(queue)  # as error reports and debuggers show it


async def test_any_other_receive_is_left_alone():
    class OwnQueue(asyncio.Queue):
        pass

    own, inbox = OwnQueue(), Inbox()
    own.put_nowait({"type": "websocket.connect"})

    assert not _feed_directly(own.get, inbox)
    assert not _feed_directly(lambda: None, inbox)
    assert type(own) is OwnQueue and own.qsize() == 1 and not inbox.items

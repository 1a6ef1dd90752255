"""What calls.daphne_compat changes in daphne and autobahn."""


def test_autobahn_log_arguments_are_plain_text_once_the_consumer_is_loaded():
    """Loading the consumer turns off autobahn's per-frame colour styling (a cost per frame)."""
    from autobahn import util

    import calls.consumer  # noqa: F401

    assert util._HAS_CLICK is False
    assert util.hlval(3) == "3"


def test_frames_are_unmasked_like_autobahn_does_even_in_pieces():
    import os

    from autobahn.nvx._xormasker import create_xor_masker as autobahns
    from autobahn.websocket import protocol

    import calls.consumer  # noqa: F401
    from calls.daphne_compat import _Unmasker

    assert protocol.create_xor_masker is _Unmasker
    for size in (0, 1, 5, 125, 126, 2300, 70000):
        mask, payload = os.urandom(4), os.urandom(size)
        expected = autobahns(mask, size).process(payload)
        for cut in {0, 1, 3, size // 2, size}:
            ours = _Unmasker(mask, size)
            assert ours.process(payload[:cut]) + ours.process(payload[cut:]) == expected
            assert ours.pointer() == size


async def test_a_shutdown_cancels_the_applications_running_detached_and_waits_for_them(caplog):
    import asyncio

    from daphne.server import Server
    from twisted.internet import defer

    import calls.consumer  # noqa: F401
    from calls.daphne_compat import run_detached

    ended = []

    async def application(name):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # its cleanup takes a while: the shutdown waits
            ended.append(name)
            raise

    async def failing():
        raise ValueError("broken")

    server = Server(application=None, endpoints=["tcp:port=0"])  # never run
    attached = asyncio.ensure_future(application("attached"))
    server.connections = {"a protocol": {"application_instance": attached}, "a probe": {}}
    run_detached(application("detached"))
    broken = run_detached(failing())
    await asyncio.sleep(0)

    await defer.Deferred.asFuture(server.kill_all_applications(), asyncio.get_running_loop())
    assert sorted(ended) == ["attached", "detached"]
    assert broken.done() and "Exception inside application: broken" in caplog.text

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

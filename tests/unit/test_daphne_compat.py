"""What calls.daphne_compat changes in daphne and autobahn."""


def test_autobahn_log_arguments_are_plain_text_once_the_consumer_is_loaded():
    """Loading the consumer turns off autobahn's per-frame colour styling (a cost per frame)."""
    from autobahn import util

    import calls.consumer  # noqa: F401

    assert util._HAS_CLICK is False
    assert util.hlval(3) == "3"

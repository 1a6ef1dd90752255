"""`python -m calls.daphne [daphne options] app`: daphne, on uvloop when it is installed.

daphne runs Twisted's asyncio reactor on a loop it makes when daphne.server is
imported, from the current event loop policy. Its `daphne` command offers no
way to choose that loop, so this entry point sets uvloop's policy first. Under
load, a third of a call's server CPU is the event loop and Twisted's
reactor calls on it (a writer added and removed per frame sent); uvloop does
that work in C. It calls socket callbacks without Twisted's log context (see
`plain_reactor_callbacks`), and once the server runs it tunes the garbage
collector (see `tune_gc`). Everything else is daphne's own command line, unchanged.
"""

import asyncio
import gc

# A young collection after this many new container objects, not Python's 700.
YOUNG_GC_THRESHOLD = 20_000


def tune_gc():
    """Collect less often, and never again over what the server made to start.

    A call's frames leave short-lived garbage that Python's default thresholds
    collected every 700 objects; each full collection walked every object
    Django, daphne and the site made at start (over 100,000): under load the
    collector took 3-4 % of the server's CPU, with the event loop stopped for
    30-80 ms at each full collection. What is alive once the server runs is
    frozen out of collections; young collections run about 30 times less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


def plain_reactor_callbacks():
    """Twisted's asyncio reactor calls each socket's doRead and doWrite directly.

    It wraps every one in `callWithLogger`, which copies a log context (a dict
    per level) so that Twisted's legacy log messages name the connection; daphne
    logs through Python's logging, which never reads it. Paired runs at 100 pairs
    (8 rounds): 7 % less server CPU per call. Exceptions still end in the
    reactor's `_readOrWrite`, which logs them and drops the connection.
    """
    from twisted.internet import asyncioreactor

    if hasattr(asyncioreactor, "callWithLogger"):  # the reactor's own name for it
        asyncioreactor.callWithLogger = _call_plainly


def _call_plainly(logger, func, *args, **kwargs):
    return func(*args, **kwargs)


def main():
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface  # imports daphne.server, which makes the loop
    from twisted.internet import reactor  # daphne's, installed by that import

    plain_reactor_callbacks()  # before the first socket is registered
    reactor.callWhenRunning(tune_gc)  # the application is loaded by then
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

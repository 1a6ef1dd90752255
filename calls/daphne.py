"""`python -m calls.daphne [daphne options] app`: daphne, on uvloop when it is installed.

daphne runs Twisted's asyncio reactor on a loop it makes when daphne.server is
imported, from the current event loop policy. Its `daphne` command offers no
way to choose that loop, so this entry point sets uvloop's policy first. Under
load, a third of a call's server CPU is the event loop and Twisted's
reactor calls on it (a writer added and removed per frame sent); uvloop does
that work in C. Everything else is daphne's own command line, unchanged.

autobahn formats the arguments of its debug log lines for every frame sent and
received, even with debug logging off; where click is installed (test tools
bring it) it styles them in colour, which cost about 5 % of a call's CPU. Its
own fallback, plain text, is used instead.
"""

import asyncio


def main():
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from autobahn import util as autobahn_util

    autobahn_util._HAS_CLICK = False
    from daphne.cli import CommandLineInterface  # imports daphne.server, which makes the loop

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

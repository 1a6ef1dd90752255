"""`python -m calls.daphne [daphne options] app`: daphne, on uvloop when it is installed.

daphne runs Twisted's asyncio reactor on a loop it makes when daphne.server is
imported, from the current event loop policy. Its `daphne` command offers no
way to choose that loop, so this entry point sets uvloop's policy first. Under
load, a third of a call's server CPU is the event loop and Twisted's
reactor calls on it (a writer added and removed per frame sent); uvloop does
that work in C. Everything else is daphne's own command line, unchanged.
"""

import asyncio


def main():
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface  # imports daphne.server, which makes the loop

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()

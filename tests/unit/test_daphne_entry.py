"""`python -m calls.daphne`: daphne's own command line, on uvloop, with the GC tuned."""

import asyncio
import subprocess
import sys

import uvloop

from calls.daphne import YOUNG_GC_THRESHOLD


def test_daphne_entry_point_runs_daphne_on_uvloop(monkeypatch):
    from daphne import cli

    from calls import daphne as entry

    seen = {}
    monkeypatch.setattr(entry, "tune_gc", lambda: None)  # not for this test process
    monkeypatch.setattr(cli.CommandLineInterface, "entrypoint",
                        classmethod(lambda cls: seen.setdefault("policy", asyncio.get_event_loop_policy())))
    previous = asyncio.get_event_loop_policy()
    try:
        entry.main()
    finally:
        asyncio.set_event_loop_policy(previous)
    assert isinstance(seen["policy"], uvloop.EventLoopPolicy)


def test_daphne_entry_point_takes_daphnes_options():
    result = subprocess.run([sys.executable, "-m", "calls.daphne", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout and "application" in result.stdout


def test_daphne_makes_its_loop_from_the_policy_set_before_it_is_imported():
    """What the entry point relies on: daphne.server makes its loop when imported."""
    code = ("import asyncio, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
            "import daphne.server as s; print(type(s.twisted_loop).__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("uvloop")



def test_the_running_server_freezes_what_it_started_with_and_collects_less_often():
    code = """
import gc
from daphne import cli

def run(cls):
    from twisted.internet import reactor
    reactor.callLater(0.1, reactor.stop)  # runs after what was scheduled for the start
    before = gc.get_threshold()[0], gc.get_freeze_count()
    reactor.run()
    print(*before, gc.get_threshold()[0], gc.get_freeze_count())

cli.CommandLineInterface.entrypoint = classmethod(run)
from calls import daphne
daphne.main()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    threshold_before, frozen_before, threshold, frozen = map(int, result.stdout.split())
    assert (threshold_before, frozen_before) == (700, 0)
    assert threshold == YOUNG_GC_THRESHOLD and frozen > 10_000


def test_the_reactor_calls_socket_callbacks_without_a_log_context():
    code = """
from calls import daphne as entry
from daphne import cli
from twisted.internet import asyncioreactor
from twisted.python import context, log

cli.CommandLineInterface.entrypoint = classmethod(lambda cls: None)
entry.main()
class Connection:
    def logPrefix(self):
        return "a-connection"

system = asyncioreactor.callWithLogger(Connection(), lambda: context.get(log.ILogContext)["system"])
print(asyncioreactor.callWithLogger is entry._call_plainly, system != "a-connection")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]

"""`python -m calls.daphne`: daphne's own command line, on uvloop."""

import asyncio
import subprocess
import sys

import uvloop


def test_daphne_entry_point_runs_daphne_on_uvloop(monkeypatch):
    from daphne import cli

    from calls import daphne as entry

    seen = {}
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


"""Daphne processes for the benchmark, each on a free loopback port."""

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit():
    """Lift the soft limit on open files to the hard one (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def django_env(database_url, redis_url=""):
    """The environment of a process on bench.settings."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


class BenchServer:
    """One daphne serving bench.asgi; `url` is the signaling endpoint, `echo_url` the baseline."""

    def __init__(self, database_url, redis_url="", log_dir="/tmp", name="server"):
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws/"
        self.echo_url = f"ws://127.0.0.1:{self.port}/bench/echo/"
        self.log_path = Path(log_dir) / f"daphne-{name}-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calls.daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "bench.asgi:application"],
            cwd=ROOT, env=django_env(database_url, redis_url),
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=raise_fd_limit,
        )
        self.pid = self.process.pid
        self._wait_until_listening()

    def _wait_until_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("daphne did not start listening")

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()

    def log_tail(self, chars=3000):
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

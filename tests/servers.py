"""Real daphne processes for end-to-end tests, on a free loopback port each."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def database_url(settings_dict):
    """A DATABASE_URL for the database a Django connection uses."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


class DaphneServer:
    """A daphne process serving the project; `url` is its WebSocket endpoint.

    `host` is the address it binds (loopback unless a test runs in its own network
    namespace, as the browser tests do).
    """

    def __init__(self, database_url, redis_url="", settings="tests.server_settings", env=None,
                 host="127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.http = f"http://{host}:{self.port}"
        self.url = f"ws://{host}:{self.port}/ws/"
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"daphne-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calls.daphne", "-b", host, "-p", str(self.port),
             "callproject.asgi:application"],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not start listening")

    def kill(self):
        """SIGKILL: the process dies without a word, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def log_text(self):
        return self.log_path.read_text()

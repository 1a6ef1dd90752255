"""The apps' settings: one ``CALLS`` dict in the Django settings, read here with defaults."""

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS = {
    # Seconds the server waits for a client's answer to a server request...
    "REQUEST_TIMEOUT": 5,
    # ...and after each ack of it.
    "ACK_TIMEOUT": 180,
    # Seconds between server pings; two unanswered pings in a row close the connection.
    "PING_INTERVAL": 30,
    # Largest accepted frame, in bytes (UTF-8); larger ones are refused and closed (1009).
    "MAX_FRAME_BYTES": 64 * 1024,
    # Bytes waiting to be sent to a client that reads slower than it is sent to (beyond
    # what the OS holds); past it the connection is dropped, its session ends.
    "MAX_SEND_BACKLOG": 1024 * 1024,
    # Client requests per second per connection, and the burst allowed above it.
    "RATE_LIMIT": 200,
    "RATE_BURST": 400,
    # Bad frames in a row before the connection is closed (1008).
    "MAX_BAD_FRAMES": 20,
    # First delay after a failed login, doubled per failure on a connection, capped.
    "LOGIN_FAILURE_DELAY": 0.2,
    "LOGIN_FAILURE_DELAY_MAX": 5.0,
    # Ring time of a call when `start` gives none, and the largest allowed.
    "DEFAULT_RING_TIME": 30,
    "MAX_RING_TIME": 180,
    # Seconds between a server process's heartbeats, and the age at which a
    # beat is stale: the process is then taken as dead and its calls ended.
    "HEARTBEAT_INTERVAL": 2,
    "HEARTBEAT_STALE": 8,
    # Seconds between refreshes of the live sessions' `last_seen_at`: one UPDATE of
    # every live session of the process, so not at every heartbeat.
    "LAST_SEEN_INTERVAL": 30,
    # Keep the SDP offers and answers in the call history (off: only whether there was one).
    "KEEP_SDP": False,
    # Dotted path of `policy(caller_user, callee, callee_type) -> bool | str`:
    # False or a message refuses the call. None allows every call.
    "CALL_POLICY": None,
    # Dotted path of `resolve(callee, callee_type, caller_session) -> list[Registration] | None`;
    # None (returned or set) falls back to the built-in user/session lookup.
    "DESTINATION_RESOLVER": None,
}


class CallsSettings:
    """Attribute access to ``settings.CALLS`` over ``DEFAULTS``; reloaded when tests override."""

    def __init__(self):
        self._cache = {}

    def __getattr__(self, name):
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown CALLS setting: {name}")
        if name not in self._cache:
            self._cache[name] = getattr(settings, "CALLS", {}).get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self):
        self._cache.clear()


calls_settings = CallsSettings()


def _reload(*, setting, **kwargs):
    if setting == "CALLS":
        calls_settings.reload()


setting_changed.connect(_reload)

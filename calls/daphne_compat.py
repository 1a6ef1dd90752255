"""Where daphne (4.2) and autobahn need a hand: close codes, shutdown, log arguments, unmasking.

PROTOCOL.md closes a flooding connection with 1008 and an oversize frame with
1009, both RFC 6455 codes a server may send. Autobahn's public `sendClose`
accepts only 1000 and 3000-4999 (codes for applications), so daphne refuses
them; its own `sendCloseFrame` (which daphne itself uses for 1011) sends any.
"""

import asyncio
import logging

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets without its C part, or not installed
    apply_mask = None

log = logging.getLogger(__name__)

SERVER_CLOSE_CODES = frozenset({1008, 1009, 1011})
SHUTDOWN_GRACE = 10  # seconds the applications get to finish when the server stops


def allow_protocol_close_codes():
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    if getattr(WebSocketProtocol, "_calls_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def serverClose(self, code=None):
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code)
        else:
            original(self, code)

    WebSocketProtocol.serverClose = serverClose
    WebSocketProtocol._calls_close_codes = True


def plain_autobahn_log_arguments():
    """Format autobahn's debug-log arguments as plain text.

    autobahn formats them for every frame sent and received, even with debug
    logging off; where click is installed (test tools bring it) it styles them
    in colour, about 5 % of a call's server CPU. Its own fallback is plain text.
    """
    try:
        from autobahn import util
    except ImportError:  # not running under daphne
        return
    util._HAS_CLICK = False


def stop_every_application_at_shutdown():
    """Let daphne's shutdown cancel every application and wait for all of them.

    At SIGTERM daphne cancels each connection's application and waits, so that
    our consumers end their calls and close their registrations. Two slips in
    daphne 4.2 cut that short: a TCP connection that has sent no request yet (a
    load balancer's health probe, a port check) has no application, and the
    loop stops at it with a KeyError; and its wait ends with the first
    application to finish, since a cancelled one ends by raising. Then the
    process exits with the rest half done, as if it had died. The applications
    running detached (see `run_detached`) are cancelled and waited for as well.
    """
    try:
        from daphne.server import Server
    except ImportError:  # not running under daphne
        return
    if getattr(Server, "_calls_shutdown", False):
        return

    def kill_all_applications(self):
        from twisted.internet import defer

        running = []
        instances = [details.get("application_instance") for details in self.connections.values()]
        for instance in [*instances, *_detached]:
            if instance is not None and not instance.done():
                instance.cancel()
                running.append(instance)
        log.info("Killed %i pending application instances", len(running))
        if not running:
            return None
        waiting = asyncio.ensure_future(asyncio.wait(running, timeout=SHUTDOWN_GRACE))
        return defer.Deferred.fromFuture(waiting)

    Server.kill_all_applications = kill_all_applications
    Server._calls_shutdown = True


_detached = set()  # the tasks run_detached started, until they end


def run_detached(coroutine):
    """Run a connection's application on, once its ASGI call has returned to daphne.

    daphne then forgets the application (it checks once a second which are done)
    but keeps the connection: its frames still go to the application's input
    queue and its `send` still works. A shutdown cancels these too and waits.
    """
    task = asyncio.ensure_future(coroutine)
    _detached.add(task)
    task.add_done_callback(_detached_ended)
    return task


def _detached_ended(task):
    _detached.discard(task)
    if not task.cancelled() and task.exception() is not None:  # as daphne reports its own
        log.error("Exception inside application: %s", task.exception(), exc_info=task.exception())


class _Unmasker:
    """autobahn's frame masker interface on websockets' C `apply_mask`.

    autobahn makes a CFFI masker object for every frame a client sends (about
    5 µs a frame with its buffers); websockets' function takes about 1 µs.
    """

    __slots__ = ("mask", "position")

    def __init__(self, mask, length=None):
        self.mask, self.position = bytes(mask), 0

    def pointer(self):
        return self.position

    def reset(self):
        self.position = 0

    def process(self, data):
        shift = self.position & 3  # a frame's payload may arrive in several pieces
        self.position += len(data)
        return apply_mask(data, self.mask[shift:] + self.mask[:shift] if shift else self.mask)


def unmask_frames_in_c():
    """Use _Unmasker for the frames autobahn receives, where websockets is installed."""
    if apply_mask is None:
        return
    try:
        from autobahn.websocket import protocol
    except ImportError:  # not running under daphne
        return
    protocol.create_xor_masker = _Unmasker

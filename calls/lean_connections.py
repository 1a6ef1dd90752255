"""An open WebSocket connection under daphne keeps only what it still reads.

Once its handshake is done, a connection's protocol object (daphne's subclass of
autobahn's) holds about a hundred attributes: autobahn copies some thirty
settings from its factory onto every connection, sets some forty flags and
timers to False or None, and keeps the parsed request, its headers and the
response it sent. That was a 3.3 KB attribute dict plus 1.5 KB of handshake
leftovers per connection, a sixth of what an idle session cost.

At open, the connection's class becomes a subclass (one per factory) that holds
those settings and defaults as class attributes, and its attribute dict is
rebuilt with only the rest. Reads see the same values; anything autobahn sets
later lands in the instance again. The handshake's leftovers are dropped
(daphne and autobahn read none of them after open), except the request's path,
which daphne logs at close. The HTTP request the connection was upgraded from,
which Twisted's HTTP channel kept in its queue, is dropped too, and that channel
and the TCP transport drop the attributes that equal what their classes hold.

Before that, as each connection is made, autobahn formats its thirty settings
for a debug line that is not printed; they are now formatted only if it is.
"""

import pprint
import weakref
from collections import deque

# Set at connect, never read after the handshake (autobahn 26, daphne 4.2).
HANDSHAKE_LEFTOVERS = frozenset({
    "http_request_data", "http_status_line", "http_headers", "http_request_uri", "http_request_path",
    "http_request_params", "http_request_host", "http_response_data", "websocket_origin",
    "websocket_protocols", "websocket_extensions", "_wskey", "clean_headers",
})

# Flags, timers and states as autobahn, daphne and Twisted set them at connect; most
# connections keep them so until they close. (A class attribute is a slightly slower
# read than an instance's: `state`, which changes, stays in the instance.)
STATE_DEFAULTS = {
    "connected": 1, "websocket_version": 13, "_raw_query_string": b"", "send_state": 0, "data": b"",
    "inside_message": False, "current_frame": None, "autoPingTimeoutCall": None,
    "_perMessageCompress": None, "trackedTimings": None, "triggered": False,
    "wasMaxFramePayloadSizeExceeded": False, "wasMaxMessagePayloadSizeExceeded": False,
    "closedByMe": False, "failedByMe": False, "droppedByMe": False, "wasClean": False,
    "wasNotCleanReason": None, "wasServerConnectionDropTimeout": False,
    "wasOpenHandshakeTimeout": False, "wasCloseHandshakeTimeout": False,
    "wasServingFlashSocketPolicyFile": False, "localCloseCode": None, "localCloseReason": None,
    "remoteCloseCode": None, "remoteCloseReason": None, "openHandshakeTimeoutCall": None,
    "closeHandshakeTimeoutCall": None, "autoPingPending": None, "autoPingPendingCall": None,
    "autoPingPendingSeq": 0, "autoPingPendingSent": None, "protocol_to_accept": None,
    "root_path": "", "websocket_protocol_in_use": None,
}


class Uncounted:
    """autobahn's traffic counters, not kept: daphne reads none (176 bytes a connection).

    autobahn adds to them (`stats.x += n`): each reads 0 and the sum goes nowhere.
    """

    __slots__ = ()

    def __getattr__(self, name):
        return 0

    def __setattr__(self, name, value):
        pass

    def reset(self):
        pass


# Per-connection objects autobahn makes and daphne never reads, replaced at open by
# one class value: the traffic counters, and the transport's details (for WAMP, and
# for TLS channel binding, which autobahn sets before onOpen).
NOT_KEPT = {"trafficStats": Uncounted(), "_transport_details": None}

_classes = weakref.WeakKeyDictionary()  # factory -> {protocol class: its lean subclass}


class SendQueue(list):
    """autobahn's queue of delayed writes as a list: 56 bytes, an empty deque 760.

    autobahn queues a write only when asked to send in pieces or in sync, or
    behind another queued write: none of which daphne does, so it stays empty.
    """

    __slots__ = ()

    def popleft(self):
        return self.pop(0)


class OpenedRequest:
    """What daphne reads of the handshake's request after open: its path (logged at close)."""

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


def lean_class(cls, factory):
    """The subclass of `cls` whose class attributes are `factory`'s settings and STATE_DEFAULTS."""
    per_factory = _classes.setdefault(factory, {})
    if cls not in per_factory:
        settings = {name: getattr(factory, name) for name in cls.CONFIG_ATTRS}
        settings["factory"] = factory
        if hasattr(factory, "server_class"):  # daphne's server, which every connection names
            settings["server"] = factory.server_class
        defaults = {**settings, **STATE_DEFAULTS}
        # A function in a class would be read as a method (perMessageCompressionAccept is one).
        as_class = {name: staticmethod(value) if hasattr(type(value), "__get__") else value
                    for name, value in defaults.items()}
        per_factory[cls] = type(cls.__name__, (cls,), {
            **as_class, **NOT_KEPT, "__module__": cls.__module__, "_lean_defaults": defaults,
        })
    return per_factory[cls]


def make_lean(protocol):
    """Move an open connection to its lean class and drop what it no longer needs."""
    if getattr(protocol, "_lean_defaults", None) is not None:
        return
    cls = lean_class(type(protocol), protocol.factory)
    defaults = cls._lean_defaults
    kept = {}
    for name, value in vars(protocol).items():
        if name in HANDSHAKE_LEFTOVERS or name in NOT_KEPT:
            continue
        if name in defaults and holds(defaults[name], value):
            continue
        kept[name] = value
    request = kept.get("request")
    if request is not None:
        kept["request"] = OpenedRequest(request.path)
    queued = kept.get("send_queue")
    if type(queued) is deque:
        kept["send_queue"] = SendQueue(queued)
    protocol.__class__ = cls
    protocol.__dict__ = kept  # a new dict: one emptied of keys would keep its size
    transport = protocol.transport
    if getattr(transport, "protocol", None) is protocol:  # plain TCP, no TLS wrapper between
        channel = getattr(transport, "producer", None)
        if isinstance(getattr(channel, "requests", None), list):  # Twisted's HTTP channel
            forget_upgrade_request(channel)
            shed_class_values(channel)
        shed_class_values(transport)


def shed_class_values(obj):
    """Rebuild `obj`'s attribute dict without the values its class holds already.

    Twisted sets on each connection values its classes have (offsets, empty
    buffers, None timers): the dict of 17 to 22 keys then takes 832 bytes, one
    of 12 to 21 keys 464. Reads see the same values; writes land in the instance.
    """
    cls = type(obj)
    obj.__dict__ = {name: value for name, value in vars(obj).items()
                    if not holds(getattr(cls, name, _MISSING), value)}


def holds(default, value):
    """Whether a class value `default` reads as `value`: the same object, or an
    equal immutable one (an equal list or dict may still be changed in place)."""
    return value is default or (type(value) in _IMMUTABLE and type(default) is type(value) and value == default)


_MISSING = object()
_IMMUTABLE = (bool, int, float, str, bytes, type(None))


def forget_upgrade_request(channel):
    """Let the HTTP channel the connection came through forget its upgrade request.

    Twisted's channel stays registered as the socket's producer, and it kept the
    request, never finished, in its queue: its headers, body buffer and response
    state, about 2.5 KB. Once the socket's data goes to the WebSocket protocol
    the channel handles no request again, and its producer methods look only at
    its own flags and transport, so it is left in place and only forgets that.
    """
    channel.requests.clear()


class FormattedWhenPrinted:
    """pprint.pformat(obj), made only when printed."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __format__(self, spec):
        return format(pprint.pformat(self.obj), spec)

    def __str__(self):
        return pprint.pformat(self.obj)

    __repr__ = __str__


def pformat_when_printed(obj):
    """autobahn's pformat: its one list, a new connection's settings for a debug line
    (up to a tenth of the server's CPU to open a session), only when printed; its
    dicts (timings and transport details, whose text is used) at once."""
    return FormattedWhenPrinted(obj) if type(obj) is list else pprint.pformat(obj)


def install():
    """Make every daphne WebSocket connection lean once it is open (once)."""
    try:
        import autobahn.websocket.protocol as autobahn_protocol
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    if getattr(WebSocketProtocol, "_calls_lean", False):
        return
    autobahn_protocol.pformat = pformat_when_printed
    daphne_on_open = WebSocketProtocol.onOpen

    def onOpen(self):
        daphne_on_open(self)
        make_lean(self)

    WebSocketProtocol.onOpen = onOpen
    WebSocketProtocol._calls_lean = True

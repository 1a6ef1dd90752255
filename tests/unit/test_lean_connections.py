"""An open daphne WebSocket connection keeps only what it still reads, and works as before."""

import asyncio
import base64
import gc
import os
import struct
import sys
import weakref

from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

import calls.consumer  # noqa: F401 - installs the change
from calls.lean_connections import HANDSHAKE_LEFTOVERS, STATE_DEFAULTS, SendQueue


class Server:
    """What daphne's WebSocketProtocol asks of daphne's server."""

    root_path = ""
    proxy_forwarded_address_header = None

    def __init__(self):
        self.queue = asyncio.Queue()
        self.logged = []

    def protocol_connected(self, protocol):
        pass

    def protocol_disconnected(self, protocol):
        pass

    def create_application(self, protocol, scope):
        return self.queue

    def log_action(self, protocol, action, details):
        self.logged.append((action, details))


class Transport(StringTransport):
    def unregisterProducer(self):  # as a TCP connection does, even with none registered
        self.producer = None


def upgrade_request(key):
    return (f"GET /ws/?a=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Origin: http://localhost\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def open_connection(factory=None):
    server = factory.server_class if factory else Server()
    factory = factory or WebSocketFactory(server)
    protocol = factory.buildProtocol(("127.0.0.1", 40000))
    transport = Transport()
    protocol._raw_query_string = b"a=1"  # daphne's HTTP protocol sets it as it upgrades
    protocol.makeConnection(transport)
    protocol.dataReceived(upgrade_request(base64.b64encode(os.urandom(16)).decode()))
    protocol.serverAccept()
    return server, protocol, transport


def client_frame(opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked


def test_an_open_connection_keeps_a_small_dict_and_reads_the_same_settings():
    server, protocol, transport = open_connection()

    assert transport.value().startswith(b"HTTP/1.1 101 Switching Protocols")
    assert isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
    attributes = vars(protocol)
    assert not HANDSHAKE_LEFTOVERS & attributes.keys()
    assert len(attributes) <= 21 and sys.getsizeof(attributes) < 500  # 104 and 3.3 KB before
    for name in protocol.CONFIG_ATTRS:
        assert getattr(protocol, name) is getattr(protocol.factory, name)
    for name, value in STATE_DEFAULTS.items():
        assert getattr(protocol, name) == (b"a=1" if name == "_raw_query_string" else value)
    assert protocol.server is server and protocol.connected
    assert protocol.trafficStats is type(protocol).trafficStats  # one for all, counting nothing
    assert protocol.request.path == "/ws/"
    assert type(protocol.send_queue) is SendQueue and sys.getsizeof(protocol.send_queue) < 100


def test_writes_autobahn_queues_go_out_in_order_through_the_lean_send_queue():
    server, protocol, transport = open_connection()
    transport.clear()

    protocol.sendData(b"first", sync=True)  # written, then autobahn waits a pass of the reactor
    protocol.sendData(b"second", sync=True)  # queued until that pass
    protocol.sendData(b"third")  # behind a queued write: queued too
    assert protocol.send_queue == [(b"second", True), (b"third", False)]
    assert transport.value() == b"first"
    protocol._send()  # the reactor's passes
    protocol._send()
    assert transport.value() == b"firstsecondthird" and protocol.send_queue == []


def test_frames_pings_and_the_close_handshake_work_on_a_lean_connection():
    server, protocol, transport = open_connection()
    transport.clear()

    protocol.dataReceived(client_frame(0x1, b'{"a": 1}'))
    protocol.sendMessage(b"hi")
    protocol.dataReceived(client_frame(0x9, b"are you there"))
    assert [server.queue.get_nowait() for _ in range(2)] == [
        {"type": "websocket.connect"}, {"type": "websocket.receive", "text": '{"a": 1}'}]
    assert transport.value() == b"\x81\x02hi" + b"\x8a\x0dare you there"  # the pong

    transport.clear()
    protocol.dataReceived(client_frame(0x8, struct.pack("!H", 1000)))
    assert transport.value() == b"\x88\x02" + struct.pack("!H", 1000)  # the close echoed
    protocol.connectionLost(Failure(ConnectionError("closed")))
    assert server.queue.get_nowait() == {"type": "websocket.disconnect", "code": 1000}
    assert server.logged[-1][1]["path"] == "/ws/"  # daphne logs the request's path at close
    assert protocol.remoteCloseCode == 1000 and protocol.wasClean

    other = open_connection(protocol.factory)[1]  # what one connection set stays its own
    assert other.remoteCloseCode is None and not other.wasClean
    assert type(other) is type(protocol)  # one lean class per factory and protocol class


class HTTPServer(Server):
    """What daphne's HTTP protocol asks of daphne's server, besides the above."""

    http_timeout = None
    websocket_handshake_timeout = 5
    server_name = "daphne"

    def __init__(self):
        super().__init__()
        self.ws_factory = WebSocketFactory(self)


def test_the_http_channel_forgets_the_upgrade_request_and_stays_the_producer():
    server = HTTPServer()
    channel = HTTPFactory(server).buildProtocol(("127.0.0.1", 40000))
    requests = []
    channel.requestFactory = lambda *args: requests.append(WebRequest(*args)) or requests[-1]
    transport = Transport()
    channel.makeConnection(transport)
    channel.dataReceived(upgrade_request(base64.b64encode(os.urandom(16)).decode()))
    protocol = transport.protocol
    protocol.serverAccept()
    assert isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN

    upgrade = weakref.ref(requests.pop())
    gc.collect()
    assert upgrade() is None  # with its headers and buffers (about 2.5 KB a connection)
    assert transport.producer is channel._channel and channel._channel.requests == []
    # Without the values its class holds: 13 attributes of 22, in 464 bytes instead of 832.
    assert len(vars(channel._channel)) <= 13 and sys.getsizeof(vars(channel._channel)) < 500
    channel._channel.pauseProducing()  # still the socket's producer, reading what its class holds
    channel._channel.resumeProducing()
    transport.clear()
    protocol.dataReceived(client_frame(0x1, b"hello"))
    protocol.sendMessage(b"hi")
    assert server.queue.get_nowait() == {"type": "websocket.connect"}
    assert server.queue.get_nowait() == {"type": "websocket.receive", "text": "hello"}
    assert transport.value() == b"\x81\x02hi"


def test_shedding_class_values_keeps_what_differs_and_what_could_be_shared_by_mistake():
    from calls.lean_connections import shed_class_values

    class Channel:
        timeout, name, queue, producer = None, "channel", [], None

    channel = Channel()
    channel.timeout, channel.name, channel.queue, channel.producer = None, "channel", [], "a producer"
    shed_class_values(channel)
    assert vars(channel) == {"queue": [], "producer": "a producer"}  # a list is its own, even if equal
    assert (channel.timeout, channel.name) == (None, "channel")
    channel.timeout = 5  # a write lands in the instance, as before
    assert channel.timeout == 5 and Channel.timeout is None


def test_autobahn_formats_a_new_connections_settings_only_if_its_debug_line_is_printed(monkeypatch):
    import pprint

    import autobahn.websocket.protocol as autobahn_protocol

    from calls.lean_connections import pformat_when_printed

    assert autobahn_protocol.pformat is pformat_when_printed
    formatted = []
    monkeypatch.setattr(pprint, "pformat", lambda obj: formatted.append(obj) or "text")
    open_connection()
    assert formatted == []  # the debug line was not printed
    settings = [("autoPingInterval", 0, "WebSocketServerFactory")]
    assert "{attrs}".format(attrs=pformat_when_printed(settings)) == "text" and formatted == [settings]
    assert pformat_when_printed({"a": 1}) == "text"  # a dict's text is used at once

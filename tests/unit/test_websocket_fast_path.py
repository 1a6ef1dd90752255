"""The short way through autobahn takes whole plain frames and leaves it the rest.

(tests/e2e/test_frames.py checks the same frames end to end through daphne.)
"""

from types import SimpleNamespace

from calls.websocket_fast_path import _deliver_whole_frames
from tests.e2e.helpers import frame


class Connection(SimpleNamespace):
    STATE_OPEN = 3

    def __init__(self, message_limit=0, frame_limit=0):
        super().__init__(state=3, maxMessagePayloadSize=message_limit, maxFramePayloadSize=frame_limit,
                         messages=[])

    def onMessage(self, payload, is_binary):
        self.messages.append((payload, is_binary))


def test_whole_text_and_binary_frames_are_delivered_and_a_cut_one_is_left():
    connection = Connection()
    third = frame(b"c" * 300)
    rest = _deliver_whole_frames(connection, frame(b"a") + frame("é".encode(), opcode=2) + third[:9])
    assert connection.messages == [(b"a", False), ("é".encode(), True)]
    assert rest == third[:9]


def test_it_stops_at_the_first_frame_autobahn_must_see():
    for unusual in (
        frame(b"ping", opcode=9),  # control frame
        frame(b"part", fin=False),  # fragment
        frame(b"\xff"),  # not UTF-8: autobahn fails the connection
        bytes((0x81, 2)) + b"hi",  # not masked
        frame(b"x" * 70000),  # 64-bit length
        frame(b"y" * 200)[:1] + bytes((0x80 | 126, 0, 100)) + frame(b"y" * 200)[4:],  # 16-bit length under 126
    ):
        connection, first = Connection(), frame(b"first")
        rest = unusual + frame(b"after")
        assert _deliver_whole_frames(connection, first + rest) == rest
        assert connection.messages == [(b"first", False)]


def test_a_frame_over_a_size_limit_is_left_to_autobahn():
    for connection in (Connection(message_limit=100), Connection(frame_limit=100)):
        big = frame(b"z" * 101)
        assert _deliver_whole_frames(connection, frame(b"z" * 100) + big) == big
        assert connection.messages == [(b"z" * 100, False)]


class Socket:
    def __init__(self, takes):
        self.takes, self.sent = takes, []

    def send(self, data):
        if isinstance(self.takes, Exception):
            raise self.takes
        self.sent.append(bytes(data[:self.takes]))
        return min(self.takes, len(data))


class Transport:
    """What _write_now reads of Twisted's TCP transport; `write` queues as Twisted's does."""

    TLS, connected, disconnecting, _writeDisconnected, dataBuffer, offset = False, True, False, False, b"", 0

    def __init__(self, takes, queued=()):
        self.socket, self._tempDataBuffer, self.written = Socket(takes), list(queued), []
        self._tempDataLen, self._aborting, self.aborts = sum(map(len, queued)), False, 0

    def write(self, data):
        self.written.append(data)
        self._tempDataBuffer.append(data)
        self._tempDataLen += len(data)

    def abortConnection(self):
        self._aborting, self.aborts = True, self.aborts + 1

    def getPeer(self):
        return "a peer"


def test_frames_go_to_the_socket_at_once_and_what_it_leaves_to_twisted(monkeypatch):
    from calls import websocket_fast_path

    monkeypatch.setattr(websocket_fast_path, "_plain_tcp_server", Transport)
    whole, partial, blocked = Transport(takes=100), Transport(takes=3), Transport(takes=BlockingIOError())
    queued_before = Transport(takes=100, queued=[b"earlier"])
    for transport in (whole, partial, blocked, queued_before):
        websocket_fast_path._write_now(transport, b"frame")
    assert (whole.socket.sent, whole.written) == ([b"frame"], [])
    assert (partial.socket.sent, partial.written) == ([b"fra"], [b"me"])
    assert blocked.written == [b"frame"]
    assert (queued_before.socket.sent, queued_before.written) == ([], [b"frame"])  # order kept


def test_a_client_too_far_behind_is_dropped_once(monkeypatch, settings):
    from calls import websocket_fast_path

    monkeypatch.setattr(websocket_fast_path, "_plain_tcp_server", Transport)
    settings.CALLS = {"MAX_SEND_BACKLOG": 10}
    reading, stalled = Transport(takes=100), Transport(takes=BlockingIOError())
    for _ in range(3):
        websocket_fast_path._write_now(reading, b"frame")
        websocket_fast_path._write_now(stalled, b"frame")
    assert reading.aborts == 0 and reading.written == []
    assert stalled._tempDataLen == 15 and stalled.aborts == 1  # over 10 at the third frame


def test_under_daphne_frames_go_straight_to_the_connection_while_daphne_keeps_it():
    import asyncio
    import functools

    from daphne.server import Server

    from calls import websocket_fast_path

    websocket_fast_path.install()

    class Protocol:
        STATE_OPEN, state = 3, 3

        def __init__(self):
            self.sent = []

        def sendMessage(self, payload, is_binary):
            self.sent.append((payload, is_binary))

    server, protocol = Server(application=None, endpoints=["tcp:port=0"]), Protocol()  # never run
    server.connections = {protocol: {}}
    send_text = websocket_fast_path.text_sender(functools.partial(server.handle_reply, protocol))
    asyncio.run(send_text(b'{"a": 1}'))
    server.connections[protocol]["disconnected"] = True
    asyncio.run(send_text(b'{"a": 2}'))
    assert protocol.sent == [(b'{"a": 1}', False)]
    assert websocket_fast_path.text_sender(lambda message: None) is None  # another server

"""WebSocket framing through a real daphne, byte by byte: the plain frames the server
reads and writes itself (calls/websocket_fast_path.py) and the rest, left to autobahn."""

import base64
import json
import os
import socket
import struct

import pytest

from ..conftest import PASSWORD
from .helpers import frame

PING = b'{"class": "core", "cmd": "ping", "tid": %d}'


class RawWebSocket:
    """A client that writes frames exactly as given, split as given."""

    def __init__(self, server, receive_buffer=None):
        self.sock = socket.socket()
        if receive_buffer:  # set before connecting: it bounds the window the server sees
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect((server.host, server.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws/ HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        return chunk

    def _take(self, n):
        while len(self.buffer) < n:
            self.buffer += self._recv()
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def read_frame(self):
        """(opcode, payload) of the server's next frame (never masked)."""
        first, second = self._take(2)
        assert not second & 0x80 and first & 0x80, "server frames are whole and unmasked"
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(length)

    def read_json(self):
        opcode, payload = self.read_frame()
        assert opcode == 1
        return json.loads(payload)

    def close_code(self):
        """The code of the close frame the server sends next (skipping other frames)."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0]

    def request(self, tid, cls, cmd, data, subclass="core"):
        """Send a request; return its answer (skipping what the server sends before it)."""
        self.send_pieces(frame(json.dumps({"class": cls, "subclass": subclass, "cmd": cmd, "tid": tid,
                                           "data": data}).encode()))
        while True:
            answer = self.read_json()
            if answer.get("tid") == tid and "result" in answer:
                return answer

    def send_pieces(self, *pieces):
        for piece in pieces:
            self.sock.sendall(piece)

    def close(self):
        self.sock.close()


@pytest.fixture
def ws(server):
    client = RawWebSocket(server)
    yield client
    client.close()


def test_several_frames_in_one_write_each_get_their_answer(ws):
    ws.send_pieces(b"".join(frame(PING % tid) for tid in (1, 2, 3)))
    assert [ws.read_json()["tid"] for _ in range(3)] == [1, 2, 3]


def test_a_frame_cut_across_writes_and_one_after_it(ws):
    fifth = frame(PING % 5)
    cut = frame(PING % 4) + fifth[:3]
    ws.send_pieces(*(cut[i:i + 1] for i in range(len(cut))))  # one byte per segment
    assert ws.read_json()["tid"] == 4
    ws.send_pieces(fifth[3:] + frame(PING % 6))  # the rest of a frame, then a whole one
    assert [ws.read_json()["tid"] for _ in range(2)] == [5, 6]


def test_frames_of_every_length_encoding(ws):
    for tid, padding in ((7, 0), (8, 200), (9, 70000)):  # 7-bit, 16-bit and 64-bit lengths
        body = {"class": "core", "cmd": "ping", "tid": tid}
        if padding:
            body["data"] = {"pad": "é" * (padding // 2)}  # not ASCII: UTF-8 is checked
        ws.send_pieces(frame(json.dumps(body, ensure_ascii=False).encode()))
        answer = ws.read_json()
        assert answer["tid"] == tid
        if padding > 65536:  # over MAX_FRAME_BYTES: refused, then closed with 1009
            assert answer["data"]["code"] == 100046 and ws.close_code() == 1009


def test_a_fragmented_message_with_a_ping_inside_it(ws):
    message = PING % 10
    ws.send_pieces(frame(message[:10], fin=False) + frame(b"hello", opcode=9)
                   + frame(message[10:], opcode=0) + frame(PING % 11))
    assert ws.read_frame() == (10, b"hello")  # the pong, at once
    assert [ws.read_json()["tid"] for _ in range(2)] == [10, 11]


# autobahn fails a connection that breaks the protocol by dropping it, without a close frame.

def test_invalid_utf8_drops_the_connection(ws):
    ws.send_pieces(frame(PING % 12))
    assert ws.read_json()["tid"] == 12
    ws.send_pieces(frame(b'{"x": "\xff\xfe"}') + frame(PING % 13))
    with pytest.raises(ConnectionError):
        ws.read_frame()


def test_an_unmasked_client_frame_drops_the_connection(ws):
    ws.send_pieces(frame(PING % 14))
    assert ws.read_json()["tid"] == 14
    ws.send_pieces(bytes((0x81, len(PING % 15))) + PING % 15)
    with pytest.raises(ConnectionError):
        ws.read_frame()


def test_a_client_that_stops_reading_is_dropped_and_its_session_ends(server):
    """Events to a client that reads nothing pile up in the server only up to
    MAX_SEND_BACKLOG (1 MiB) beyond what the kernel holds; then the connection goes."""
    slow, sender = RawWebSocket(server, receive_buffer=4096), RawWebSocket(server)
    try:
        assert slow.request(1, "core", "login", {"user": "erin", "password": PASSWORD},
                            subclass="user")["result"] == "ok"
        assert sender.request(1, "core", "login", {"user": "frank", "password": PASSWORD},
                              subclass="user")["result"] == "ok"
        body = {"pad": "x" * 60000}
        for tid in range(2, 400):  # up to 24 MB of events; the kernel holds about 4 MB of them
            answer = sender.request(tid, "core", "send_event", {"user": "erin", "type": "big", "body": body},
                                    subclass="user")
            if answer["result"] == "error":  # erin has no session left: dropped
                assert answer["data"]["code"] == 100033
                break
        else:
            raise AssertionError("the client that reads nothing was never dropped")
        assert tid * 60000 < 12_000_000  # gone once about 5 MB were on their way to it
        with pytest.raises(ConnectionError):  # what it had not read is cut short: no close frame
            while True:
                slow.read_frame()
        assert sender.request(tid + 1, "core", "ping", {})["result"] == "ok"  # the server goes on
    finally:
        slow.close()
        sender.close()

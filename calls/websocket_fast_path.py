"""A short way through autobahn for the frames a signaling connection is made of.

Under daphne every frame goes through autobahn's general WebSocket machine: for
a client's message a dozen Python calls (frame begin, data, end, message begin,
data, end, an observer signal, traffic statistics, debug-log arguments), and
about as many to send one. That was about a sixth of a call's server CPU.

Nearly every frame here is the plain case: a whole, unfragmented, masked text
message arriving in one read, and a whole unfragmented text message going out.
The functions here handle only that case and hand everything else to autobahn
untouched: control frames, fragments, a frame cut across reads, extensions,
anything it would refuse. Whenever autobahn is in the middle of something (a
partial frame buffered, a fragmented message), it gets the bytes as before.
A frame going out is handed to the socket at once when Twisted has nothing
queued for it (see _write_now), and a client that lets too much queue up is
dropped (see _drop_if_too_far_behind).
"""

import functools
import logging
import struct

from .conf import calls_settings

log = logging.getLogger(__name__)

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets without its C part, or not installed
    apply_mask = None

_TEXT, _BINARY = 0x81, 0x82  # FIN set, no RSV bits, opcode 1 or 2
_MASKED = 0x80


def _data_received(self, data):
    """daphne's WebSocketProtocol.dataReceived: whole plain frames here, the rest to autobahn."""
    if self.state == self.STATE_OPEN and _receiving_plainly(self):
        data = _deliver_whole_frames(self, data)
        if not data:
            return
    self._dataReceived(data)


def _receiving_plainly(self):
    """True when autobahn holds nothing half-read and no option asks for its own work."""
    return (not self.data and self.current_frame is None and not self.inside_message
            and self._perMessageCompress is None and self.requireMaskedClientFrames
            and self.applyMask and not self.logOctets and not self.logFrames
            and not self.trackedTimings and self.autoPingTimeoutCall is None)


def _deliver_whole_frames(self, data):
    """Give daphne each whole plain message at the start of `data`; return what is left."""
    position, size = 0, len(data)
    message_limit, frame_limit = self.maxMessagePayloadSize, self.maxFramePayloadSize  # 0: none
    while size - position >= 6 and self.state == self.STATE_OPEN:
        first, second = data[position], data[position + 1]
        if first not in (_TEXT, _BINARY) or not second & _MASKED:
            break
        length, mask_at = second & 0x7F, position + 2
        if length == 126:
            if size - position < 8:
                break
            length, mask_at = struct.unpack_from("!H", data, mask_at)[0], mask_at + 2
            if length < 126:  # not minimally encoded: autobahn refuses it
                break
        elif length == 127:  # 64 KB or more: autobahn checks the limits
            break
        end = mask_at + 4 + length
        if end > size or 0 < message_limit < length or 0 < frame_limit < length:
            break
        payload = apply_mask(data[mask_at + 4:end], data[mask_at:mask_at + 4])
        is_binary = first == _BINARY
        if not is_binary and not payload.isascii():
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:  # autobahn fails the connection
                break
        position = end
        self.onMessage(payload, is_binary)
    return data[position:] if position else data


def _send_message(self, payload, isBinary=False, fragmentSize=None, sync=False, doNotCompress=False):
    """autobahn's sendMessage: a whole plain frame written at once, else autobahn's way."""
    length = len(payload)
    if (fragmentSize is None and not sync and self.state == self.STATE_OPEN and not self.send_queue
            and self._perMessageCompress is None and not self.autoFragmentSize
            and not self.maskServerFrames and not self.logOctets and not self.logFrames
            and not self.trackedTimings and not 0 < self.maxMessagePayloadSize < length):
        opcode = _BINARY if isBinary else _TEXT
        if length < 126:
            header = bytes((opcode, length))
        elif length < 65536:
            header = struct.pack("!BBH", opcode, 126, length)
        else:
            header = struct.pack("!BBQ", opcode, 127, length)
        _write_now(self.transport, header + payload)
        return
    _autobahn_send_message(self, payload, isBinary, fragmentSize, sync, doNotCompress)


def _write_now(transport, data):
    """Send on the socket at once when Twisted has nothing queued before it; else queue it.

    Twisted's write queues the bytes, asks the event loop to watch the socket
    for writing and sends them in the next pass, then stops watching: two
    epoll changes and a pass of its dispatch per frame. Whatever the socket
    does not take now (or any error) goes to Twisted's queue, which handles it.
    """
    plain = type(transport) is _plain_tcp_server and not transport.TLS
    if (plain and transport.connected and not transport.disconnecting and not transport._writeDisconnected
            and not transport._tempDataBuffer and not transport.dataBuffer):
        try:
            sent = transport.socket.send(data)
        except OSError:  # it would block, or the connection broke: Twisted will see
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
    if plain:
        _drop_if_too_far_behind(transport)


def _drop_if_too_far_behind(transport):
    """Drop a connection whose client reads slower than it is sent to, past MAX_SEND_BACKLOG.

    What the socket does not take waits in Twisted's buffer, which has no bound:
    a client that stops reading (gone without a word, or asleep) while events
    keep coming would grow the server by every frame, until two unanswered pings
    close it a minute later. A close frame would wait behind what it has not
    read, so the connection is aborted; its session ends as on any disconnect.
    """
    unsent = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    if unsent > calls_settings.MAX_SEND_BACKLOG and not transport._aborting:
        log.warning("dropping the connection of %s: %d bytes it has not read yet (MAX_SEND_BACKLOG)",
                    transport.getPeer(), unsent)
        transport.abortConnection()


def is_daphne_send(send):
    """True if `send` is the one daphne gives a WebSocket connection's application."""
    return (_daphne_handle_reply is not None and isinstance(send, functools.partial)
            and getattr(send.func, "__func__", None) is _daphne_handle_reply and len(send.args) == 1)


def text_sender(send):
    """For daphne's `send` of one connection: an async function sending a text frame
    given as UTF-8 bytes straight to the connection; None for any other server.

    It skips what daphne does per frame on the way (a coroutine, the message's
    checks, a debug log, the text encoded again) but keeps its rule: nothing is
    sent on a connection daphne has seen go.
    """
    if not is_daphne_send(send):
        return None
    connections, protocol = send.func.__self__.connections, send.args[0]

    async def send_text(data):
        details = connections.get(protocol)
        if details is None or details.get("disconnected"):
            return
        if protocol.state == protocol.STATE_OPEN:
            protocol.sendMessage(data, False)
        else:  # not accepted yet, or closing: daphne's own way decides
            await send({"type": "websocket.send", "text": data.decode()})

    return send_text


_autobahn_send_message = _plain_tcp_server = _daphne_handle_reply = None


def install():
    """Put the short way into daphne's WebSocketProtocol (once; where websockets' C code is)."""
    global _autobahn_send_message, _plain_tcp_server, _daphne_handle_reply
    if apply_mask is None:
        return
    try:
        from daphne.server import Server as Daphne
        from daphne.ws_protocol import WebSocketProtocol
        from twisted.internet.tcp import Server
    except ImportError:  # not running under daphne
        return
    if getattr(WebSocketProtocol, "_calls_fast_path", False):
        return
    _autobahn_send_message = WebSocketProtocol.sendMessage
    _plain_tcp_server = Server
    _daphne_handle_reply = Daphne.handle_reply
    WebSocketProtocol.dataReceived = _data_received
    WebSocketProtocol.sendMessage = _send_message
    WebSocketProtocol._calls_fast_path = True

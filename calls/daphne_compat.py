"""Let daphne send the close codes the protocol needs.

PROTOCOL.md closes a flooding connection with 1008 and an oversize frame with
1009, both RFC 6455 codes a server may send. Autobahn's public `sendClose`
accepts only 1000 and 3000-4999 (codes for applications), so daphne refuses
them; its own `sendCloseFrame` (which daphne itself uses for 1011) sends any.
"""

SERVER_CLOSE_CODES = frozenset({1008, 1009, 1011})


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

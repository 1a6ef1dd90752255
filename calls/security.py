"""The Origin rule of PROTOCOL.md §1."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings


class AllowedOriginOrNone(OriginValidator):
    """Refuse (HTTP 403) a WebSocket whose Origin is not one of the site's allowed hosts.

    A connection without an Origin header (apps, phones, scripts) is accepted: only
    browsers send one, and the check is there so that a foreign page cannot ride a
    visitor's session cookie.
    """

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)


def signaling_websocket(inner):
    """Wrap the WebSocket URL router: Origin check, then Django session authentication."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return AllowedOriginOrNone(AuthMiddlewareStack(inner), allowed)

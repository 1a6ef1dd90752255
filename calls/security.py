"""The Origin rule of PROTOCOL.md §1, and who a connection's session cookie names."""

from channels.auth import AuthMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings


class AllowedOriginOrNone(OriginValidator):
    """Refuse (HTTP 403) a WebSocket whose Origin is not one of the site's allowed hosts.

    A connection without an Origin header (apps, phones, scripts) is accepted: only
    browsers send one, and the check is there so that a foreign page cannot ride a
    visitor's session cookie.
    """

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)


class SessionAuthMiddleware(AuthMiddleware):
    """channels' AuthMiddleware, without a trip to the database thread for a
    connection with no session cookie (apps, phones, scripts): its user is
    anonymous, as channels would find there."""

    async def resolve_scope(self, scope):
        if settings.SESSION_COOKIE_NAME in scope.get("cookies", {}):
            await super().resolve_scope(scope)
        else:
            from django.contrib.auth.models import AnonymousUser

            scope["user"]._wrapped = AnonymousUser()


def signaling_websocket(inner):
    """Wrap the WebSocket URL router: Origin check, then Django session authentication
    (channels' AuthMiddlewareStack, with SessionAuthMiddleware)."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return AllowedOriginOrNone(CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner))), allowed)

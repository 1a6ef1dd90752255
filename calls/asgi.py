"""What a site mounts in its ASGI application to serve the signaling WebSocket.

In the site's ``asgi.py``, after ``get_asgi_application()``::

    from channels.routing import ProtocolTypeRouter
    from calls.asgi import websocket_application

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": websocket_application(),
    })

The endpoint is ``/ws/``. A site with WebSocket routes of its own passes them
(``websocket_application(extra_urlpatterns=[...])``), or builds its router from
``calls.routing.websocket_urlpatterns`` and wraps it with
``calls.security.signaling_websocket``.
"""


def websocket_application(*, extra_urlpatterns=()):
    """The WebSocket app: Origin check, Django session auth, then the URL router.

    Routes ``calls.routing.websocket_urlpatterns`` (``ws/``) and the site's
    ``extra_urlpatterns`` after them. Call it once Django is set up (after
    ``get_asgi_application()``): it imports the consumer and its models.
    """
    from channels.routing import URLRouter

    from .routing import websocket_urlpatterns
    from .security import signaling_websocket

    return signaling_websocket(URLRouter([*websocket_urlpatterns, *extra_urlpatterns]))

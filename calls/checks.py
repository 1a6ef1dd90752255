"""System checks: what a site that adds calling may have forgotten.

Registered by ``CallsConfig.ready()`` (``register()``); ``python manage.py check``
prints them.

=========== ========================================================================
id          what
=========== ========================================================================
calls.E001  no channel layer: ``CHANNEL_LAYERS`` has no ``"default"``
calls.E002  ``ASGI_APPLICATION`` is not set
calls.E003  ``ASGI_APPLICATION`` cannot be imported, or serves no WebSocket
calls.E004  an app calling needs is missing from ``INSTALLED_APPS`` (for ``calls`` and
            ``registrations``, raised as ImproperlyConfigured while Django starts:
            the other app's imports would fail before any check could run)
calls.E005  ``CALLS`` is not a dict, or has a key calls does not know (a typo?)
calls.E006  ``CALLS["CALL_POLICY"]`` / ``["DESTINATION_RESOLVER"]`` cannot be imported or is not callable
calls.E007  the user model lacks an attribute calls reads (``is_active``, ``is_staff``)
calls.W001  the in-memory channel layer with ``DEBUG`` off: one process only
calls.W002  ``ASGI_APPLICATION``'s WebSocket routes do not reach calls' consumer
=========== ========================================================================
"""

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

TAG = "calls"

# (app label as written in INSTALLED_APPS, why calling needs it)
REQUIRED_APPS = [
    ("django.contrib.auth", "users, authenticate() and the AUTH_USER_MODEL the history points at"),
    ("django.contrib.contenttypes", "needed by django.contrib.auth"),
    ("rest_framework", "the REST API under api/"),
    ("rest_framework.authtoken", "API tokens, for the REST API and WebSocket login with a token"),
    ("django_filters", "the REST API's filters"),
    ("drf_spectacular", "the REST API's schema and docs pages"),
]

IN_MEMORY_LAYERS = ("channels.layers.InMemoryChannelLayer", "calls.layers.InMemoryChannelLayer")


def _installed(name):
    from django.apps import apps

    return apps.is_installed(name)


def check_installed_apps(app_configs=None, **kwargs):
    """calls.E004: every app calling needs is in INSTALLED_APPS."""
    return [
        checks.Error(
            f"'{name}' is not in INSTALLED_APPS: calling needs it for {why}.",
            hint=f"Add '{name}' to INSTALLED_APPS.",
            id="calls.E004",
        )
        for name, why in REQUIRED_APPS
        if not _installed(name)
    ]


def check_channel_layer(app_configs=None, **kwargs):
    """calls.E001 (no channel layer) and calls.W001 (in-memory layer outside DEBUG)."""
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default") if isinstance(layers, dict) else None
    if not default:
        return [checks.Error(
            "No channel layer is configured (CHANNEL_LAYERS has no 'default'): "
            "sessions and calls cannot reach each other.",
            hint="Set CHANNEL_LAYERS = {'default': {'BACKEND': 'channels_redis.core.RedisChannelLayer', "
                 "'CONFIG': {'hosts': ['redis://127.0.0.1:6379/0']}}} "
                 "(or 'calls.layers.InMemoryChannelLayer' for a single process).",
            id="calls.E001",
        )]
    if default.get("BACKEND") in IN_MEMORY_LAYERS and not settings.DEBUG:
        return [checks.Warning(
            "The in-memory channel layer only reaches consumers of its own process: with several "
            "server processes (workers, replicas) users on different processes cannot call each other.",
            hint="Use the Redis layer (pip install 'django-call-signaling[redis]', BACKEND "
                 "'channels_redis.core.RedisChannelLayer') unless the site runs exactly one process; "
                 "then silence this with SILENCED_SYSTEM_CHECKS = ['calls.W001'].",
            id="calls.W001",
        )]
    return []


def check_asgi_application(app_configs=None, **kwargs):
    """calls.E002 / E003 / W002: the site's ASGI application serves the signaling WebSocket."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    hint = ("In the site's asgi.py: application = ProtocolTypeRouter({'http': get_asgi_application(), "
            "'websocket': calls.asgi.websocket_application()}).")
    if not path:
        return [checks.Error(
            "ASGI_APPLICATION is not set: the site serves no WebSocket, so no device can log in or call.",
            hint="Set ASGI_APPLICATION = 'yoursite.asgi.application'. " + hint,
            id="calls.E002",
        )]
    try:
        application = import_string(path)
    except Exception as exc:  # the site's module: any error is worth reporting
        return [checks.Error(
            f"ASGI_APPLICATION {path!r} cannot be imported: {type(exc).__name__}: {exc}",
            hint=hint,
            id="calls.E003",
        )]
    from django.core.handlers.asgi import ASGIHandler

    if isinstance(application, ASGIHandler):
        return [checks.Error(
            f"ASGI_APPLICATION {path!r} is Django's plain HTTP handler: it serves no WebSocket.",
            hint=hint,
            id="calls.E003",
        )]
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, dict) and "websocket" not in mapping:
        return [checks.Error(
            f"ASGI_APPLICATION {path!r} routes no 'websocket' connections.",
            hint=hint,
            id="calls.E003",
        )]
    found, opaque = _find_consumer(application)
    if not found and not opaque:
        return [checks.Warning(
            f"The WebSocket routes of ASGI_APPLICATION {path!r} do not lead to calls' SignalingConsumer.",
            hint="Mount calls.asgi.websocket_application() (or calls.routing.websocket_urlpatterns) "
                 "under 'websocket'.",
            id="calls.W002",
        )]
    return []


def _find_consumer(application):
    """(found, opaque): whether calls' consumer is routed, and whether some part could not be seen into.

    Walks the containers Channels and Django build (ProtocolTypeRouter, URLRouter,
    OriginValidator, the auth/session middleware); anything else is opaque, and
    then W002 stays quiet rather than guess.
    """
    from .consumer import SignalingConsumer

    found = opaque = False
    stack, seen = [application], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        consumer_class = getattr(node, "consumer_class", None)
        if isinstance(consumer_class, type):
            found = found or issubclass(consumer_class, SignalingConsumer)
            continue
        mapping = getattr(node, "application_mapping", None)
        if isinstance(mapping, dict):
            stack.extend(mapping.get(k) for k in mapping if k != "http")
            continue
        routes = getattr(node, "routes", None)
        if isinstance(routes, (list, tuple)):
            stack.extend(getattr(route, "callback", None) for route in routes)
            continue
        inner = next((getattr(node, a) for a in ("application", "inner", "app")
                      if getattr(node, a, None) is not None), None)
        if inner is not None:
            stack.append(inner)
            continue
        if node is not None:
            opaque = True
    return found, opaque


def check_calls_settings(app_configs=None, **kwargs):
    """calls.E005 (the CALLS dict) and calls.E006 (its hooks)."""
    from .conf import DEFAULTS

    value = getattr(settings, "CALLS", {})
    if not isinstance(value, dict):
        return [checks.Error(f"CALLS must be a dict, not {type(value).__name__}.", id="calls.E005")]
    errors = [
        checks.Error(
            f"CALLS has an unknown key {key!r}.",
            hint="Known keys: " + ", ".join(sorted(DEFAULTS)) + ".",
            id="calls.E005",
        )
        for key in value
        if key not in DEFAULTS
    ]
    for key in ("CALL_POLICY", "DESTINATION_RESOLVER"):
        dotted = value.get(key)
        if not dotted:
            continue
        try:
            hook = import_string(dotted) if isinstance(dotted, str) else None
        except Exception as exc:
            errors.append(checks.Error(
                f"CALLS[{key!r}] = {dotted!r} cannot be imported: {type(exc).__name__}: {exc}",
                id="calls.E006",
            ))
            continue
        if not callable(hook):
            errors.append(checks.Error(
                f"CALLS[{key!r}] must be the dotted path of a callable, not {dotted!r}.",
                id="calls.E006",
            ))
    return errors


def check_user_model(app_configs=None, **kwargs):
    """calls.E007: the user model has what calls reads besides get_username()."""
    from django.contrib.auth import get_user_model

    try:
        User = get_user_model()
    except Exception:  # Django's own checks report a bad AUTH_USER_MODEL
        return []
    missing = [name for name in ("is_active", "is_staff") if not hasattr(User, name)]
    if not missing:
        return []
    return [checks.Error(
        f"The user model {User._meta.label} has no {' / '.join(missing)}: calls reads is_active "
        "(inactive users cannot log in) and is_staff (staff may watch and end any call).",
        hint="Add the fields (e.g. is_staff = models.BooleanField(default=False)), or properties.",
        id="calls.E007",
    )]


def register():
    """Register the checks (from CallsConfig.ready()), under the tag "calls"."""
    for check in (check_installed_apps, check_channel_layer, check_asgi_application,
                  check_calls_settings, check_user_model):
        checks.register(check, TAG)

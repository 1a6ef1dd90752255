"""Settings of a host site that was not made by the calls project.

Its own user model (accounts.User, e-mail login), its own authentication
backend, its own URL root; calling is added as the README's "Add to an existing
site" section says. HOSTSITE_DB names the SQLite file; HOSTSITE_DEBUG=0 turns
DEBUG off. HOSTSITE_BREAK (tests only) leaves pieces out, to see the system checks.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "host-site-test-key-not-secret"
DEBUG = os.environ.get("HOSTSITE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    # Calling, and the apps its REST API uses.
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "registrations",
    "calls",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "mysite.urls"
ASGI_APPLICATION = "mysite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("HOSTSITE_DB", str(BASE_DIR / "db.sqlite3")),
        # Several threads write the call history at once.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;"},
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CALLS = {
    "CALL_POLICY": "accounts.calling.call_policy",
    "DESTINATION_RESOLVER": "accounts.calling.resolve_extension",
}

USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- tests only
_BREAK = set(filter(None, os.environ.get("HOSTSITE_BREAK", "").split(",")))
if "channel_layers" in _BREAK:
    del CHANNEL_LAYERS
if "asgi_setting" in _BREAK:
    del ASGI_APPLICATION
if "asgi_http_only" in _BREAK:
    ASGI_APPLICATION = "mysite.asgi.django_asgi_app"
for _app in ("registrations", "rest_framework.authtoken", "calls"):
    if f"no_{_app}" in _BREAK:
        INSTALLED_APPS.remove(_app)
if "policy_path" in _BREAK:
    CALLS["CALL_POLICY"] = "accounts.calling.no_such_policy"
if "calls_typo" in _BREAK:
    CALLS["RING_TIME"] = 10

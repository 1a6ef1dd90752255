"""Settings of the benchmark's daphne processes: the project's, production-like.

DEBUG is off and a SECRET_KEY is set; the database and the channel layer come
from DATABASE_URL and REDIS_URL as in production (the runner points them at a
fresh SQLite file, or at a fresh PostgreSQL database and a Redis db index).
Differences from a production deployment, both on purpose:

- The benchmark's users get MD5 password hashes, so that logging in thousands
  of sessions measures the server, not PBKDF2 (PBKDF2 stays accepted).
- The application is bench.asgi: the project's, plus a bare echo consumer at
  /bench/echo/ used as the baseline.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdef")

from callproject.settings import *  # noqa: E402,F401,F403
from callproject.settings import LOGGING  # noqa: E402

DEBUG = False
ASGI_APPLICATION = "bench.asgi.application"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Only warnings and errors: a log line per call would be part of what is measured.
for _logger in LOGGING["loggers"].values():
    _logger["level"] = os.environ.get("CALLS_LOG_LEVEL", "WARNING")

# One pair of clients loops calls back to back: a single connection then sends
# far more than the protocol's default 200 requests per second, which the server
# would rightly close as a flood. The limit is lifted here, not the cost.
CALLS = {"RATE_LIMIT": 100000, "RATE_BURST": 200000}

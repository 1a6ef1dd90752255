"""Settings of the daphne processes the end-to-end tests start: the project's own,
on the database and channel layer the test names in the environment."""

from callproject.settings import *  # noqa: F401,F403

# The test process creates users with this (fast) hasher.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

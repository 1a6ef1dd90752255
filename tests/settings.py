"""Test settings: the project's, on a SQLite file that real daphne processes can share.

With PostgreSQL reachable (CLUSTER_DATABASE_URL), a second alias "cluster" gets
its own test database for the two-process tests on Redis + PostgreSQL.
"""

import os
import tempfile

import dj_database_url

from callproject.settings import *  # noqa: F401,F403
from callproject.settings import DATABASES

_DIR = tempfile.mkdtemp(prefix="calls-tests-")
DATABASES["default"] = dj_database_url.parse(f"sqlite:///{_DIR}/db.sqlite3")
DATABASES["default"]["OPTIONS"] = {
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;",
    "transaction_mode": "IMMEDIATE",
}
DATABASES["default"]["TEST"] = {"NAME": f"{_DIR}/test.sqlite3"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CLUSTER_DATABASE_URL = os.environ.get(
    "CLUSTER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/calls_cluster"
)
CLUSTER_REDIS_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/3")


def _postgres_reachable(url):
    try:
        import psycopg

        cfg = dj_database_url.parse(url)
        psycopg.connect(
            host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
            password=cfg["PASSWORD"] or None, connect_timeout=2,
        ).close()
        return True
    except Exception:
        return False


CLUSTER_AVAILABLE = _postgres_reachable(CLUSTER_DATABASE_URL)
if CLUSTER_AVAILABLE:
    DATABASES["cluster"] = dj_database_url.parse(CLUSTER_DATABASE_URL)
    # One test database per run: runs side by side on one machine don't collide.
    DATABASES["cluster"]["TEST"] = {"NAME": f"test_calls_cluster_{os.getpid()}"}

"""Two (or three) daphne processes sharing Redis and PostgreSQL."""

import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections

from ..conftest import PASSWORD, USERS
from ..servers import DaphneServer, database_url


def _redis_reachable(url):
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def cluster_db(django_db_setup, django_db_blocker):
    """The cluster's PostgreSQL test database, with the test users; its URL."""
    required = os.environ.get("CALLS_REQUIRE_CLUSTER") == "1"
    reasons = []
    if not settings.CLUSTER_AVAILABLE:
        reasons.append(f"PostgreSQL not reachable at {settings.CLUSTER_DATABASE_URL}")
    if not _redis_reachable(settings.CLUSTER_REDIS_URL):
        reasons.append(f"Redis not reachable at {settings.CLUSTER_REDIS_URL}")
    if reasons:
        message = "two-process tests need PostgreSQL and Redis: " + "; ".join(reasons)
        if required:
            pytest.fail(message + " (CALLS_REQUIRE_CLUSTER=1)")
        pytest.skip(message)
    User = get_user_model()
    with django_db_blocker.unblock():
        manager = User.objects.db_manager("cluster")
        for name in USERS:
            if not manager.filter(username=name).exists():
                manager.create_user(name, password=PASSWORD)
        if not manager.filter(username="staff").exists():
            manager.create_user("staff", password=PASSWORD, is_staff=True)
    return database_url(connections["cluster"].settings_dict)


def start_server(cluster_db):
    return DaphneServer(cluster_db, redis_url=settings.CLUSTER_REDIS_URL)


@pytest.fixture(scope="module")
def two_servers(cluster_db):
    servers = [start_server(cluster_db), start_server(cluster_db)]
    yield servers
    for server in servers:
        server.stop()

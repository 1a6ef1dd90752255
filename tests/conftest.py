import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from pytest_django.fixtures import _get_databases_for_setup

from .servers import DaphneServer, database_url

PASSWORD = "secret-pass-1"
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker):
    """pytest-django's, but the default database is always made: real servers use it
    for every test, with or without a django_db mark."""
    from django.test.utils import setup_databases, teardown_databases

    aliases, serialized = _get_databases_for_setup(request.session.items)
    aliases.add("default")
    if getattr(settings, "CLUSTER_AVAILABLE", False) and any(
        item.get_closest_marker("cluster") for item in request.session.items
    ):
        aliases.add("cluster")
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases=aliases,
                                 serialized_aliases=serialized)
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture
def live_db(users, django_db_blocker):
    """Database access from any thread, committed at once (for consumers under test).

    Unlike `db`, nothing is rolled back: use unique ids. Never use `transactional_db`
    in this suite: its flush would delete the session's users under the servers.
    """
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def users(django_db_setup, django_db_blocker):
    """Users that every test (and every daphne) can log in as, with PASSWORD; `staff` is staff."""
    User = get_user_model()
    with django_db_blocker.unblock():
        made = {name: User.objects.create_user(name, password=PASSWORD) for name in USERS}
        made["staff"] = User.objects.create_user("staff", password=PASSWORD, is_staff=True)
    return made


@pytest.fixture(scope="session")
def server(users):
    """One real daphne on the test database (SQLite file) and the in-memory layer."""
    daphne = DaphneServer(database_url(connections["default"].settings_dict))
    yield daphne
    daphne.stop()


@pytest.fixture
def history(django_db_blocker):
    """Read what the servers wrote, from an async test: `await history(lambda: Call.objects...)`."""

    async def read(func):
        def run():
            with django_db_blocker.unblock():
                try:
                    return func()
                finally:
                    connections.close_all()

        return await sync_to_async(run, thread_sensitive=False)()

    return read

"""Who a `start` rings: the built-in lookup of live sessions, and what it costs the database."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from calls.destinations import (
    _CALLEE, _compiled_batch_lookup, _compiled_lookup, builtin_destinations,
    resolve_destinations, resolve_many,
)
from registrations.models import Registration


@pytest.fixture
def sessions(db):
    """dest-bob on two devices, a session named like him, dest-carol, an ended one, many others."""
    User = get_user_model()
    bob, carol, other = (User.objects.create_user(name) for name in ("dest-bob", "dest-carol", "dest-other"))
    start = timezone.now() - timedelta(hours=1)

    def session(user, session_id, minute, **fields):
        at = start + timedelta(minutes=minute)
        Registration.objects.create(user=user, session_id=session_id, channel_name=f"specific.x!{session_id}",
                                    server_id="proc-a", connected_at=at, last_seen_at=at, **fields)

    session(bob, "bob-phone", 3, protocol="sip")
    session(bob, "bob-laptop", 1)
    session(carol, "dest-bob", 2)  # carol's session id is bob's name
    session(carol, "carol-tab", 4)
    session(bob, "bob-old", 0, disconnected_at=start)
    for n in range(50):
        session(other, f"other-{n}", 5)


def session_ids(rows):
    return [row[0] for row in rows]


def test_no_type_rings_the_users_sessions_and_the_session_of_that_id_oldest_first(sessions):
    rows = resolve_destinations("dest-bob", None, "caller-session")
    assert session_ids(rows) == ["bob-laptop", "dest-bob", "bob-phone"]
    assert [row[1] for row in rows] == ["dest-bob", "dest-carol", "dest-bob"]  # user names
    assert [row[5] for row in rows] == ["user", "session", "user"]
    assert rows[0][2] == "specific.x!bob-laptop" and rows[2][3] == "sip"
    # what a site's DESTINATION_RESOLVER gets from the same lookup: registrations
    assert [(r.session_id, r.user.get_username()) for r in builtin_destinations("dest-bob", None)] == [
        ("bob-laptop", "dest-bob"), ("dest-bob", "dest-carol"), ("bob-phone", "dest-bob")]


def test_each_type_and_the_caller_left_out(sessions):
    assert session_ids(resolve_destinations("dest-bob", "user", "x")) == ["bob-laptop", "bob-phone"]
    assert session_ids(resolve_destinations("dest-bob", "sip", "x")) == ["bob-phone"]
    assert session_ids(resolve_destinations("carol-tab", "session", "x")) == ["carol-tab"]
    assert session_ids(resolve_destinations("dest-bob", None, "bob-laptop")) == ["dest-bob", "bob-phone"]
    assert resolve_destinations("nobody", None, "x") == []


@pytest.mark.parametrize("callee_type", [None, "user", "session", "sip"])
def test_a_lookup_reads_only_the_callees_index_entries(sessions, callee_type):
    """Every start runs it: a plan walking every live session (an OR over two indexes did,
    on SQLite, by the index of disconnected_at) costs in proportion to who is online."""
    if connection.vendor != "sqlite":
        pytest.skip("the plan checked is SQLite's")
    sql, params = _compiled_lookup(connection.vendor, callee_type)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, ["dest-bob" if p == _CALLEE else p for p in params])
        plan = [row[3] for row in cursor.fetchall()]
    registration_steps = [step for step in plan if "registrations_registration" in step]
    assert registration_steps and all(
        "registration_live_user" in step or "registration_unique_live_session_id" in step
        for step in registration_steps
    ), plan


def test_a_batch_of_starts_is_looked_up_in_one_query_as_one_by_one(sessions, django_assert_num_queries):
    lookups = [("dest-bob", None, "caller"), ("dest-bob", "user", "x"), ("dest-bob", "sip", "x"),
               ("carol-tab", "session", "x"), ("dest-bob", None, "bob-laptop"), ("nobody", None, "x"),
               ("dest-carol", "verto", "x"), ("dest-carol", "user", "dest-bob"), ("bob-old", None, "x")]
    one_by_one = [resolve_destinations(*lookup) for lookup in lookups]
    assert [session_ids(rows) for rows in one_by_one] == [
        ["bob-laptop", "dest-bob", "bob-phone"], ["bob-laptop", "bob-phone"], ["bob-phone"], ["carol-tab"],
        ["dest-bob", "bob-phone"], [], [], ["carol-tab"], []]
    with django_assert_num_queries(1):
        assert resolve_many(lookups) == one_by_one


def test_a_batch_lookup_reads_only_the_callees_index_entries(sessions):
    if connection.vendor != "sqlite":
        pytest.skip("the plan checked is SQLite's")
    sql = _compiled_batch_lookup(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, ['["dest-bob", "dest-carol"]', '["dest-bob", "carol-tab"]'])
        plan = [row[3] for row in cursor.fetchall()]
    assert plan.count("SCAN c VIRTUAL TABLE INDEX 1:") == 2, plan  # the names and ids first
    registration_steps = [step for step in plan if step.startswith(("SEARCH r ", "SCAN r"))]
    assert len(registration_steps) == 2 and all(
        "registration_live_user" in step or "registration_unique_live_session_id" in step
        for step in registration_steps
    ), plan

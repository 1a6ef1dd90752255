"""The history writer's statements and lookups on PostgreSQL (see tests/unit/test_history_statements.py)."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from calls import destinations, history_sql, services
from calls.models import Call, CallEvent
from registrations.models import Registration

from ..unit.test_history_statements import assert_recorded, write_and_read_back

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(databases=["default", "cluster"])]


@pytest.mark.parametrize("keep_sdp", [False, True])
def test_one_json_array_per_statement_on_postgresql(cluster_db, monkeypatch, keep_sdp):
    assert_recorded(*write_and_read_back("cluster", monkeypatch, keep_sdp), keep_sdp)


def start_fields(caller):
    """A start's fields as services.record_call_starts takes them."""
    return {"caller_id": caller.pk, "caller_session_id": "s", "callee": "x", "callee_type": None,
            "ring_time": 30, "started_at": time.time(), "meta": {}, "offer": None,
            "owner_channel": "owner!1", "owner_server_id": "server-1"}


def test_a_batch_finds_its_calls_and_legs_by_index_on_postgresql(cluster_db, monkeypatch):
    """With thousands of calls in the history a batch's updates look up each of its rows.

    PostgreSQL guessed 100 rows for any JSON array and hash-joined them to a scan of
    every call (and every leg) in the history, for each batch.
    """
    db = connections["cluster"]
    monkeypatch.setattr(services, "connection", db)
    user = get_user_model().objects.db_manager("cluster").create_user(f"many-{time.time()}")
    starts = [(f"many-{user.pk}-{n}", start_fields(user), [(f"leg-{n}", "x", "callee!1", "api", user.pk, "user")])
              for n in range(3000)]
    services.record_call_starts(starts)
    now = time.time()
    batch = {  # three rows, as the writer's statements take them
        "update_leg": [(call_id, "ended", now, f"leg-{n}") for n, (call_id, _, _) in enumerate(starts[:3])],
        "update_answer": [(call_id, "answered", now, user.pk, "s", False, None) for call_id, _, _ in starts[:3]],
        "update_end": [(call_id, "ended", now, 16, "") for call_id, _, _ in starts[:3]],
    }
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
        for name, rows in batch.items():
            sql, _ = history_sql._compile(db, name)
            cursor.execute("EXPLAIN " + sql, history_sql.json_table_params("postgresql", rows))
            plan = "\n".join(line for line, in cursor.fetchall())
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"


def test_a_failing_statement_fails_its_pipelined_batch(cluster_db, monkeypatch):
    """A statement's error comes out of the pipeline as Django's error and the batch is
    rolled back (the history writer then writes its jobs one by one); the connection goes on."""
    db = connections["cluster"]
    monkeypatch.setattr(services, "connection", db)
    user = get_user_model().objects.db_manager("cluster").create_user(f"piped-{time.time()}")
    call_id = f"piped-{user.pk}"
    services.record_call_starts([(call_id, start_fields(user), [])])
    ringing = ("event", 1, "ringing", {}, time.time())
    with pytest.raises(IntegrityError):  # the same event twice
        with transaction.atomic(using="cluster"), history_sql.pipelined(db):
            services.record_call_changes([(call_id, [ringing, ("leg", "s", "ended", None)]),
                                          (call_id, [ringing])])
    with transaction.atomic(using="cluster"), history_sql.pipelined(db):
        services.record_call_changes([(call_id, [ringing])])
    assert list(CallEvent.objects.using("cluster").filter(call__call_id=call_id).values_list("seq", "type")) == [
        (1, "ringing")]


def test_a_batch_of_starts_finds_the_callees_sessions_by_index_on_postgresql(cluster_db):
    """With 5,000 sessions online a batch's lookup reads only its callees' sessions.

    PostgreSQL guessed 100 names for any JSON array and scanned every live session.
    """
    users = get_user_model().objects.db_manager("cluster")
    stamp = time.time()
    people = [users.create_user(f"online-{stamp}-{n}") for n in range(50)]
    now = timezone.now()
    Registration.objects.using("cluster").bulk_create(
        Registration(user=people[n % 50], session_id=f"online-{stamp}-{n}", channel_name=f"specific.x!{n}",
                     server_id="proc-a", connected_at=now, last_seen_at=now)
        for n in range(5000)
    )
    db = connections["cluster"]
    names, session_ids = [people[0].username, people[1].username], [f"online-{stamp}-7"]
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("EXPLAIN " + destinations._compiled_batch_lookup("postgresql"),
                       history_sql.json_table_params("postgresql", names)
                       + history_sql.json_table_params("postgresql", session_ids))
        plan = "\n".join(line for line, in cursor.fetchall())
    assert "Seq Scan on registrations_registration" not in plan, plan


@pytest.mark.parametrize("supported", [True, False])
def test_a_batch_is_pipelined_where_psycopg_can(cluster_db, monkeypatch, supported):
    """With psycopg2 or a libpq before 14 the same statements run one by one."""
    db = connections["cluster"]
    monkeypatch.setattr(history_sql, "_pipelines_supported", lambda: supported)
    monkeypatch.setattr(services, "connection", db)
    user = get_user_model().objects.db_manager("cluster").create_user(f"maybe-piped-{time.time()}")
    with transaction.atomic(using="cluster"), history_sql.pipelined(db):
        in_pipeline = db.connection.pgconn.pipeline_status != 0
        services.record_call_starts([(f"maybe-piped-{user.pk}", start_fields(user), [])])
    assert in_pipeline is supported
    assert Call.objects.using("cluster").filter(call_id=f"maybe-piped-{user.pk}", caller=user).exists()

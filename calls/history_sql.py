"""The statements every call costs, each run once per history batch over all its rows.

On SQLite and PostgreSQL a statement gets the batch's rows as one JSON array,
which the database unpacks itself (json_each, jsonb_array_elements). Row by row
(executemany), SQLite's module let go of the GIL and took it back around every
row, each time waiting behind the event loop's thread, so a batch took twice its
CPU time; psycopg bound every value in Python and had PostgreSQL parse and plan
a statement per row. Other databases run the statements row by row. (Plain SQL:
the ORM's bulk_create spent several times the database's own time building
instances and SQL. Rows name their call by its unique call_id, so the writer
needs no map of primary keys.)

On PostgreSQL the statements of a batch also go as one pipeline (`pipelined`):
one round trip for all of them, where each used to wait for its answer (and then
for the GIL, behind the event loop's thread). A failing statement fails the
batch at the end of the pipeline, and the writer goes job by job as before.

A statement is a template: `{0}`, `{1}`… are the elements of a row, typed as the
model field named at that place in `row`; `{rows}` is where the rows come from.
"""

import contextlib
import functools
import string

import orjson

from .models import Call, CallEvent, CallLeg

_CALL, _LEG, _EVENT = Call._meta.db_table, CallLeg._meta.db_table, CallEvent._meta.db_table
_CALL_PK = f"(SELECT id FROM {_CALL} WHERE call_id = {{0}})"  # the call of a row's first element

STATEMENTS = {
    "insert_call": (
        f"INSERT INTO {_CALL} (call_id, caller_id, caller_session_id, callee, callee_type, state, "
        "ring_time, started_at, answered_session_id, hangup_reason, meta, has_offer, has_answer, "
        "offer, owner_channel, owner_server_id) "
        "SELECT {0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, '', '', {8}, {9}, {10}, {11}, {12}, {13} {rows}",
        (Call, "call_id", "caller", "caller_session_id", "callee", "callee_type", "state", "ring_time",
         "started_at", "meta", "has_offer", "has_answer", "offer", "owner_channel", "owner_server_id"),
    ),
    "insert_leg": (
        f"INSERT INTO {_LEG} (call_id, user_id, session_id, protocol, channel_name, state, invited_at) "
        f"SELECT {_CALL_PK}, {{1}}, {{2}}, {{3}}, {{4}}, {{5}}, {{6}} {{rows}}",
        (CallLeg, "call.call_id", "user", "session_id", "protocol", "channel_name", "state", "invited_at"),
    ),
    "insert_event": (
        f"INSERT INTO {_EVENT} (call_id, seq, type, body, at) "
        f"SELECT {_CALL_PK}, {{1}}, {{2}}, {{3}}, {{4}} {{rows}}",
        (CallEvent, "call.call_id", "seq", "type", "body", "at"),
    ),
    "update_leg": (
        f"UPDATE {_LEG} SET state = {{1}}, ended_at = {{2}} {{rows}} JOIN {_CALL} AS parent "
        f"ON parent.call_id = {{0}} WHERE {_LEG}.call_id = parent.id AND {_LEG}.session_id = {{3}}",
        (CallLeg, "call.call_id", "state", "ended_at", "session_id"),
    ),
    "update_answer": (
        f"UPDATE {_CALL} SET state = {{1}}, answered_at = {{2}}, answered_by_id = {{3}}, "
        f"answered_session_id = {{4}}, has_answer = {{5}}, answer = {{6}} {{rows}} WHERE {_CALL}.call_id = {{0}}",
        (Call, "call_id", "state", "answered_at", "answered_by", "answered_session_id", "has_answer", "answer"),
    ),
    "update_end": (
        f"UPDATE {_CALL} SET state = {{1}}, ended_at = {{2}}, hangup_code = {{3}}, "
        f"hangup_reason = {{4}} {{rows}} WHERE {_CALL}.call_id = {{0}}",
        (Call, "call_id", "state", "ended_at", "hangup_code", "hangup_reason"),
    ),
}


# Row by row (some databases have no FROM in an UPDATE), a leg's call is a subquery.
# (With a JSON array PostgreSQL hash-joined on that subquery: a scan of every leg.)
_ROW_BY_ROW = {
    "update_leg": f"UPDATE {_LEG} SET state = {{1}}, ended_at = {{2}} "
                  f"WHERE {_LEG}.call_id = {_CALL_PK} AND {_LEG}.session_id = {{3}}",
}

# A JSON array parameter as a table with a column `value`, on the databases that can.
# PostgreSQL is told the array's size (LIMIT): it guessed 100 elements for any array
# and joined them to a scan of the whole table (every call, leg or live session).
_JSON_TABLES = {
    "sqlite": "json_each(%s) AS {alias}",
    "postgresql": "(SELECT value FROM jsonb_array_elements{texts}(%s::jsonb) LIMIT %s) AS {alias}(value)",
}


def json_table(vendor, alias, texts=False):
    """SQL reading a JSON array parameter as table `alias` (its elements as text with
    `texts`, else as JSON on PostgreSQL), or None on other databases."""
    table = _JSON_TABLES.get(vendor)
    return table and table.format(alias=alias, texts="_text" if texts else "")


def json_table_params(vendor, items):
    """The parameters of a json_table of `items`."""
    text = orjson.dumps(items).decode()
    return [text, len(items)] if vendor == "postgresql" else [text]


_compiled = {}  # (vendor, statement name) -> what _compile gives


def run(cursor, name, rows):
    """Run statement `name` over `rows` (tuples in the order of its `row`) with a Django cursor."""
    key = (cursor.db.vendor, name)
    if key not in _compiled:
        _compiled[key] = _compile(cursor.db, name)
    sql, order = _compiled[key]
    if order is None:
        cursor.execute(sql, json_table_params(cursor.db.vendor, rows))
    else:
        cursor.executemany(sql, [[row[i] for i in order] for row in rows])


@contextlib.contextmanager
def pipelined(db):
    """A block whose statements go to the database together (PostgreSQL's pipeline mode).

    A statement's error may only come at the end of the block, as Django's error.
    Elsewhere (psycopg2, a libpq before 14, other databases) the statements run one by one.
    """
    if db.vendor != "postgresql" or not _pipelines_supported():
        yield
        return
    with db.wrap_database_errors, db.connection.pipeline():
        yield


@functools.cache
def _pipelines_supported():
    """psycopg 3 on a libpq with pipeline mode (14 or later)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def encode_json(value):
    """A JSON column's value as the statements take it: JSON text (or None)."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _compile(db, name):
    """(SQL, None) of a statement taking the rows as one JSON array, or else
    (SQL, the row's elements in the order of its placeholders) to run row by row."""
    template, (model, *row) = STATEMENTS[name]
    if db.vendor == "sqlite":
        items = [f"json_extract(j.value, '$[{i}]')" for i in range(len(row))]
        return template.format(*items, rows="FROM " + json_table("sqlite", "j")), None
    if db.vendor == "postgresql":
        items = [f"(j.value->>{i})::{_db_type(db, model, path)}" for i, path in enumerate(row)]
        return template.format(*items, rows="FROM " + json_table("postgresql", "j")), None
    template = _ROW_BY_ROW.get(name, template)
    order = [int(field) for _, field, _, _ in string.Formatter().parse(template) if field not in (None, "rows")]
    return template.format(*["%s"] * len(row), rows=""), order


def _db_type(db, model, path):
    """The column type of a field, given as `name` or `relation.name`."""
    *relation, name = path.split(".")
    for step in relation:
        model = model._meta.get_field(step).related_model
    return model._meta.get_field(name).db_type(db)

"""Who a call goes to: the live sessions a `start` names (PROTOCOL.md §6)."""

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Subquery
from django.utils.module_loading import import_string

from registrations.selectors import live_sessions

from .conf import calls_settings


def resolve_destinations(callee, callee_type, caller_session_id):
    """[(session_id, user name, channel, protocol, user pk, type)] of the destination sessions.

    A site's CALLS["DESTINATION_RESOLVER"] may map the callee first (extension
    numbers, e-mail addresses); it returns registrations, or None to use the
    built-in lookup. The calling session itself is never a destination.
    """
    found = None
    if calls_settings.DESTINATION_RESOLVER:
        resolver = import_string(calls_settings.DESTINATION_RESOLVER)
        registrations = resolver(callee, callee_type, caller_session_id)
        if registrations is not None:
            found = [(r.session_id, r.user.get_username(), r.channel_name, r.protocol, r.user_id)
                     for r in registrations]
    if found is None:
        sql, params = _compiled_lookup(connection.vendor, callee_type)
        with connection.cursor() as cursor:
            cursor.execute(sql, [callee if p == _CALLEE else p for p in params])
            found = [row[:5] for row in cursor.fetchall()]
    return [
        (*row, "session" if row[0] == callee and callee_type in (None, "session") else "user")
        for row in found
        if row[0] != caller_session_id
    ]


_CALLEE = "\x00callee\x00"  # stands for the callee while a lookup is compiled


@functools.cache
def _compiled_lookup(vendor, callee_type):
    """The SQL of `builtin_destinations` for a callee type, compiled once.

    Every call start runs this lookup; Django would build and compile the same
    query each time, which cost several times more CPU than running it.
    """
    username = f"user__{get_user_model().USERNAME_FIELD}"
    query = builtin_destinations(_CALLEE, callee_type).values_list(
        # connected_at only because a union can be ordered only by a column it selects
        "session_id", username, "channel_name", "protocol", "user_id", "connected_at").query
    return query.sql_with_params()


def builtin_destinations(callee, callee_type):
    """The live sessions (Registrations) a callee names, oldest first.

    With no type it is a union of two querysets: it can be iterated and sliced,
    not filtered further.
    """
    User = get_user_model()
    # The user's pk as a subquery, so that both lookups use an index of live sessions.
    user_pk = User._default_manager.filter(**{User.USERNAME_FIELD: callee}).values("pk")[:1]
    of_user = live_sessions().filter(user_id=Subquery(user_pk))
    if callee_type == "user":
        found = of_user
    elif callee_type == "session":
        found = live_sessions().filter(session_id=callee)
    elif callee_type in ("sip", "verto"):
        found = of_user.filter(protocol=callee_type)
    else:
        # A union of the two indexed lookups: with one OR, SQLite walked every live session.
        # (Its parts unordered: SQLite orders only the whole union.)
        found = of_user.order_by().union(live_sessions().filter(session_id=callee).order_by())
    return found.order_by("connected_at")

"""Signals a site can connect to, e.g. to bill, notify or log (sent once per call each).

    call_started(sender=Call, call_id, caller, callee, callee_type, destinations)
    call_answered(sender=Call, call_id, answered_by, session_id)
    call_ended(sender=Call, call_id, code, reason)

`caller` and `answered_by` are user names; receivers may be sync or async.
"""

from django.dispatch import Signal

call_started = Signal()
call_answered = Signal()
call_ended = Signal()

"""The host's calling rules: the CALLS hooks and the signal receivers."""

from calls.destinations import builtin_destinations

from .models import CallNote, User


def call_policy(caller, callee, callee_type):
    """CALLS["CALL_POLICY"]: users without `may_call` cannot place calls."""
    if not caller.may_call:
        return f"{caller.email} may not place calls"
    return True


def resolve_extension(callee, callee_type, caller_session_id):
    """CALLS["DESTINATION_RESOLVER"]: a number is a user's extension; anything else, the default."""
    if callee_type in (None, "user") and callee.isdigit():
        user = User.objects.filter(extension=callee).first()
        if user is None:
            return []  # no such extension: the caller gets "No destination"
        return builtin_destinations(user.get_username(), "user")
    return None


def on_call_started(sender, call_id, caller, callee, callee_type, destinations, **kwargs):
    CallNote.objects.create(signal="started", call_id=call_id, detail={
        "caller": caller, "callee": callee, "destinations": destinations})


def on_call_answered(sender, call_id, answered_by, session_id, **kwargs):
    CallNote.objects.create(signal="answered", call_id=call_id, detail={"answered_by": answered_by})


async def on_call_ended(sender, call_id, code, reason, **kwargs):
    """An async receiver: calls sends its signals with Signal.asend, so both kinds work."""
    await CallNote.objects.acreate(signal="ended", call_id=call_id, detail={"code": code, "reason": reason})

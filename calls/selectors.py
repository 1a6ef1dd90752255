"""Reads of the call history (shared by consumer, API, admin, commands)."""

from django.contrib.auth import get_user_model
from django.db.models import Q

from .models import Call


def calls_of_user(user):
    """Calls `user` is a party to: caller, an invited destination, or the answerer."""
    return Call.objects.filter(Q(caller=user) | Q(legs__user=user) | Q(answered_by=user)).distinct()


def visible_calls(user):
    return Call.objects.all() if user.is_staff else calls_of_user(user)


def live_call_owner(call_id):
    """The owner channel of a live call, or None when the call is unknown or ended."""
    return (
        Call.objects.filter(call_id=call_id)
        .exclude(state=Call.State.ENDED)
        .values_list("owner_channel", flat=True)
        .first()
    )


def call_parties(call_id):
    """(live, {party usernames}) of a call, or None when the call is unknown."""
    call = Call.objects.filter(call_id=call_id).only("state", "caller").first()
    if call is None:
        return None
    field = get_user_model().USERNAME_FIELD
    users = {getattr(call.caller, field)}
    users.update(call.legs.values_list(f"user__{field}", flat=True))
    return call.state != Call.State.ENDED, users

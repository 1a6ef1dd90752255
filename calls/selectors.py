"""Reads of the call history (shared by consumer, API, admin, commands)."""

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q

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


def live_calls(user):
    """The calls `user` may see that have not ended."""
    return visible_calls(user).exclude(state=Call.State.ENDED)


def calls_with_party(calls, username):
    """Narrow `calls` to those where `username` is the caller, an invited destination, or the answerer."""
    field = get_user_model().USERNAME_FIELD
    return calls.filter(
        Q(**{f"caller__{field}": username})
        | Q(**{f"legs__user__{field}": username})
        | Q(**{f"answered_by__{field}": username})
    ).distinct()


def call_stats(calls, since):
    """Counts over `calls` started at or after `since`, and how many of `calls` are live."""
    if calls.query.distinct:  # joined through the parties: one row per call first
        calls = Call.objects.filter(pk__in=calls.values("pk"))
    window = calls.filter(started_at__gte=since)
    talked = Q(answered_at__isnull=False, ended_at__isnull=False)
    talk = ExpressionWrapper(F("ended_at") - F("answered_at"), output_field=DurationField())
    # One pass over the window for the counts (the dashboard asks after every call).
    counts = window.aggregate(
        calls=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False)),
        avg=Avg(talk, filter=talked),
    )
    codes = (
        window.filter(hangup_code__isnull=False)
        .order_by()
        .values("hangup_code")
        .annotate(n=Count("pk"))
    )
    total, answered = counts["calls"], counts["answered"]
    return {
        "since": since,
        "live_calls": calls.exclude(state=Call.State.ENDED).count(),
        "calls": total,
        "answered": answered,
        "answer_rate": answered / total if total else None,
        "avg_duration": counts["avg"].total_seconds() if counts["avg"] is not None else None,
        "by_hangup_code": {str(row["hangup_code"]): row["n"] for row in codes},
    }

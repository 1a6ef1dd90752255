"""Reads of registrations (shared by consumer, API, admin, commands)."""

from django.contrib.auth import get_user_model

from .models import Registration


def live_sessions():
    return Registration.objects.filter(disconnected_at=None)


def online_users():
    """{username: [session_id, ...]} of every live session, all processes."""
    users = {}
    field = f"user__{get_user_model().USERNAME_FIELD}"
    for username, session_id in live_sessions().order_by("connected_at").values_list(field, "session_id"):
        users.setdefault(username, []).append(session_id)
    return users


def user_sessions(username):
    field = f"user__{get_user_model().USERNAME_FIELD}"
    return list(live_sessions().filter(**{field: username}).order_by("connected_at"))


def live_session(session_id):
    return live_sessions().filter(session_id=session_id).select_related("user").first()


def user_is_online(username):
    field = f"user__{get_user_model().USERNAME_FIELD}"
    return live_sessions().filter(**{field: username}).exists()


def visible_registrations(user):
    """Staff see every registration, others only their own."""
    registrations = Registration.objects.select_related("user")
    return registrations if user.is_staff else registrations.filter(user=user)


def online_counts():
    """(online users, online sessions) over every process."""
    live = live_sessions()
    return live.values("user").distinct().count(), live.count()

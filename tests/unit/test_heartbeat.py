"""A process's heartbeat: the process at every beat, its sessions' last_seen_at only when due."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from registrations import services
from registrations.models import Registration, ServerProcess


def test_a_beat_refreshes_the_sessions_only_when_asked(db):
    long_ago = timezone.now() - timedelta(minutes=5)
    services.beat("proc-a")
    session = Registration.objects.create(
        user=get_user_model().objects.create_user("beat-user"), session_id="beat-s",
        channel_name="specific.x!y", server_id="proc-a", connected_at=long_ago, last_seen_at=long_ago,
    )
    ServerProcess.objects.filter(pk="proc-a").update(last_beat_at=long_ago)

    services.beat("proc-a", sessions=False)
    assert ServerProcess.objects.get(pk="proc-a").last_beat_at > long_ago
    session.refresh_from_db()
    assert session.last_seen_at == long_ago

    services.beat("proc-a")
    session.refresh_from_db()
    assert session.last_seen_at > long_ago

from django.conf import settings
from django.db import models
from django.db.models import Q


class ServerProcess(models.Model):
    """A running server process; its heartbeat tells the others it is alive."""

    server_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True)
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.hostname}:{self.pid} ({self.server_id})"


class Registration(models.Model):
    """One logged-in session (a WebSocket connection after login)."""

    class Protocol(models.TextChoices):
        API = "api"
        SIP = "sip"
        VERTO = "verto"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registrations"
    )
    session_id = models.CharField(max_length=64, db_index=True)
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.API)
    remote = models.CharField(max_length=200, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    # Where the session's consumer listens, and which process runs it.
    channel_name = models.CharField(max_length=200)
    server_id = models.CharField(max_length=64, db_index=True)
    connected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    disconnected_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-connected_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session_id"],
                condition=Q(disconnected_at__isnull=True),
                name="registration_unique_live_session_id",
            )
        ]
        indexes = [
            # "Who of this user is online": every call start asks it.
            models.Index(fields=["user"], condition=Q(disconnected_at__isnull=True),
                         name="registration_live_user"),
        ]

    def __str__(self):
        return f"{self.user} {self.session_id}"

    @property
    def online(self):
        return self.disconnected_at is None

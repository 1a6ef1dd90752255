from django.conf import settings
from django.db import models
from django.utils import timezone


class Call(models.Model):
    """One call, from `start` to its end: the history record."""

    class State(models.TextChoices):
        RINGING = "ringing"
        ANSWERED = "answered"
        ENDED = "ended"

    call_id = models.CharField(max_length=64, unique=True)
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_made"
    )
    caller_session_id = models.CharField(max_length=64)
    callee = models.CharField(max_length=255)
    callee_type = models.CharField(max_length=16, null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RINGING, db_index=True)
    ring_time = models.PositiveIntegerField()
    started_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls_answered",
    )
    answered_session_id = models.CharField(max_length=64, blank=True)
    hangup_code = models.IntegerField(null=True, blank=True)
    hangup_reason = models.CharField(max_length=255, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    has_offer = models.BooleanField(default=False)
    has_answer = models.BooleanField(default=False)
    # Only with CALLS["KEEP_SDP"].
    offer = models.JSONField(null=True, blank=True)
    answer = models.JSONField(null=True, blank=True)
    # The owner: the caller's consumer, which runs the call machine.
    owner_channel = models.CharField(max_length=200, blank=True)
    owner_server_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The reaper's question: which live calls did a dead process own?
            # Only live calls are in it, so history rows cost it nothing.
            models.Index(fields=["owner_server_id"], condition=~models.Q(state="ended"),
                         name="call_live_owner"),
        ]

    def __str__(self):
        return self.call_id

    @property
    def ring_duration(self):
        until = self.answered_at or self.ended_at or timezone.now()
        return max(0.0, (until - self.started_at).total_seconds())

    @property
    def duration(self):
        if self.answered_at is None:
            return 0.0
        until = self.ended_at or timezone.now()
        return max(0.0, (until - self.answered_at).total_seconds())


class CallLeg(models.Model):
    """One invited destination of a call."""

    class State(models.TextChoices):
        INVITED = "invited"
        ACCEPTED = "accepted"
        RINGING = "ringing"
        ANSWERED = "answered"
        REJECTED = "rejected"
        DECLINED = "declined"
        TIMEOUT = "timeout"
        CANCELLED = "cancelled"
        FAILED = "failed"

    # Indexed by the (call, session_id) constraint below.
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="legs", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="call_legs")
    session_id = models.CharField(max_length=64)
    protocol = models.CharField(max_length=8, default="api")
    channel_name = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=9, choices=State.choices, default=State.INVITED)
    invited_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "session_id"], name="call_leg_unique_session")
        ]

    def __str__(self):
        return f"leg {self.session_id} ({self.state})"


class CallEvent(models.Model):
    """A call-level event as it was sent to the call's subscribers."""

    # Indexed by the (call, seq) constraint below.
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    body = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["call", "seq"], name="call_event_unique_seq")]

    def __str__(self):
        return f"#{self.seq} {self.type}"

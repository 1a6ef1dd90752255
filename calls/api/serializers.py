"""REST shapes of the history (DATA.md): every `user` is the username."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calls.models import Call, CallEvent, CallLeg
from registrations.models import Registration

INT32 = {"min_value": -(2**31), "max_value": 2**31 - 1}


class PartySerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True)
    session_id = serializers.CharField()


def _party(user, session_id):
    return {"user": user.get_username() if user is not None else None, "session_id": session_id}


class CallLegSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)

    class Meta:
        model = CallLeg
        fields = ["user", "session_id", "protocol", "state", "invited_at", "ended_at"]
        read_only_fields = fields


class CallEventSerializer(serializers.ModelSerializer):
    body = serializers.JSONField(read_only=True)

    class Meta:
        model = CallEvent
        fields = ["type", "body", "at"]
        read_only_fields = fields


class CallSerializer(serializers.ModelSerializer):
    caller = serializers.SerializerMethodField()
    answered_by = serializers.SerializerMethodField()
    hangup_reason = serializers.SerializerMethodField()
    duration = serializers.FloatField(read_only=True, help_text="seconds from answer to end (so far, when live)")
    ring_duration = serializers.FloatField(read_only=True, help_text="seconds from start to answer or end")
    meta = serializers.JSONField(read_only=True)

    class Meta:
        model = Call
        fields = [
            "call_id", "caller", "callee", "callee_type", "state", "started_at", "answered_at",
            "ended_at", "duration", "ring_duration", "answered_by", "hangup_code",
            "hangup_reason", "meta", "has_offer", "has_answer",
        ]
        read_only_fields = fields

    @extend_schema_field(PartySerializer)
    def get_caller(self, call):
        return _party(call.caller, call.caller_session_id)

    @extend_schema_field(PartySerializer(allow_null=True))
    def get_answered_by(self, call):
        if call.answered_at is None:
            return None
        return _party(call.answered_by, call.answered_session_id)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_hangup_reason(self, call):
        return call.hangup_reason if call.hangup_code is not None else None


class CallDetailSerializer(CallSerializer):
    legs = CallLegSerializer(many=True, read_only=True)
    events = CallEventSerializer(many=True, read_only=True)

    class Meta(CallSerializer.Meta):
        fields = CallSerializer.Meta.fields + ["legs", "events"]
        read_only_fields = fields


class HangupRequestSerializer(serializers.Serializer):
    code = serializers.IntegerField(required=False, help_text="hangup code (default 0)", **INT32)
    reason = serializers.CharField(required=False, max_length=255, allow_blank=True,
                                   help_text="hangup reason (default from the code)")


class HangupAcceptedSerializer(serializers.Serializer):
    call_id = serializers.CharField()
    detail = serializers.CharField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class StatsQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="start of the window (default: today 00:00 UTC)")


class StatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="start of the window")
    live_calls = serializers.IntegerField(help_text="calls not ended (that you may see)")
    online_users = serializers.IntegerField(help_text="users with a live session")
    online_sessions = serializers.IntegerField(help_text="live sessions")
    calls = serializers.IntegerField(help_text="calls started in the window")
    answered = serializers.IntegerField(help_text="of those, answered")
    answer_rate = serializers.FloatField(allow_null=True, help_text="answered / calls; null without calls")
    avg_duration = serializers.FloatField(
        allow_null=True, help_text="mean seconds from answer to end of the answered calls that ended"
    )
    by_hangup_code = serializers.DictField(
        child=serializers.IntegerField(), help_text="ended calls of the window by hangup code"
    )


class RegistrationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)
    meta = serializers.JSONField(read_only=True)
    online = serializers.BooleanField(read_only=True)

    class Meta:
        model = Registration
        fields = [
            "user", "session_id", "protocol", "remote", "user_agent", "meta",
            "connected_at", "last_seen_at", "disconnected_at", "online",
        ]
        read_only_fields = fields


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(min_length=1)
    password = serializers.CharField(min_length=1)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()

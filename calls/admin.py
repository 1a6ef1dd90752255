"""The call history in the admin: read-only, with one action (hang up live calls)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model

from registrations.admin import ReadOnlyMixin

from . import services
from .models import Call, CallEvent, CallLeg


class CallLegInline(ReadOnlyMixin, admin.TabularInline):
    model = CallLeg
    fields = ["user", "session_id", "protocol", "state", "invited_at", "ended_at"]
    readonly_fields = fields
    extra = 0


class CallEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CallEvent
    fields = ["seq", "type", "body", "at"]
    readonly_fields = fields
    extra = 0


def _username_lookup(prefix):
    return f"{prefix}__{get_user_model().USERNAME_FIELD}"


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["call_id", "caller", "callee", "state", "started_at", "duration_seconds",
                    "hangup_code", "hangup_reason"]
    list_filter = ["state", "hangup_code", "started_at"]
    list_select_related = ["caller"]
    date_hierarchy = "started_at"
    search_fields = ["call_id", "callee", _username_lookup("caller"), _username_lookup("legs__user"),
                     _username_lookup("answered_by")]
    readonly_fields = ["duration_seconds", "ring_seconds"]
    inlines = [CallLegInline, CallEventInline]
    actions = ["hang_up"]

    @admin.display(description="duration (s)")
    def duration_seconds(self, call):
        return round(call.duration, 1)

    @admin.display(description="ring duration (s)")
    def ring_seconds(self, call):
        return round(call.ring_duration, 1)

    @admin.action(description="Hang up selected live calls")
    def hang_up(self, request, queryset):
        live = list(queryset.exclude(state=Call.State.ENDED))
        for call in live:
            services.request_hangup(call, user=request.user)
        skipped = queryset.count() - len(live)
        text = f"Asked to hang up {len(live)} live call(s)."
        if skipped:
            text += f" {skipped} had already ended."
        self.message_user(request, text, messages.SUCCESS if live else messages.WARNING)

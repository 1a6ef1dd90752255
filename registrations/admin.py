"""Registrations (sessions) in the admin: read-only, with one action (disconnect)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model

from . import services
from .models import Registration


class ReadOnlyMixin:
    """History is written by the server only: the admin shows it and runs actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "Online"), ("no", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(disconnected_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(disconnected_at__isnull=False)
        return queryset


@admin.register(Registration)
class RegistrationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["user", "session_id", "protocol", "online", "remote", "connected_at",
                    "last_seen_at", "disconnected_at"]
    list_filter = [OnlineFilter, "protocol"]
    list_select_related = ["user"]
    search_fields = [f"user__{get_user_model().USERNAME_FIELD}", "session_id"]
    actions = ["disconnect"]

    @admin.display(boolean=True)
    def online(self, registration):
        return registration.online

    @admin.action(description="Disconnect selected sessions")
    def disconnect(self, request, queryset):
        stopped = services.stop_sessions(queryset)
        skipped = queryset.count() - stopped
        text = f"Asked {stopped} live session(s) to stop."
        if skipped:
            text += f" {skipped} had already ended."
        self.message_user(request, text, messages.SUCCESS if stopped else messages.WARNING)

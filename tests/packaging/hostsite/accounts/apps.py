from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from calls import signals

        from . import calling

        signals.call_started.connect(calling.on_call_started)
        signals.call_answered.connect(calling.on_call_answered)
        signals.call_ended.connect(calling.on_call_ended)

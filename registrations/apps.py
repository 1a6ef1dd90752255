from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class RegistrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registrations"
    verbose_name = "Registrations"

    def import_models(self):
        # The sessions half of calling: the calls app writes and reads them. A site that
        # forgot it would otherwise stop at its first import of calls with a RuntimeError.
        if not self.apps.is_installed("calls"):
            raise ImproperlyConfigured(
                "(calls.E004) 'calls' is not in INSTALLED_APPS: calling needs it for the call "
                "history, the signaling consumer and its pages. HINT: Add 'calls' to INSTALLED_APPS."
            )
        super().import_models()

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class CallsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "calls"
    verbose_name = "Calls"

    def import_models(self):
        # calls imports registrations' models everywhere (consumer, API, hooks):
        # without the app, Django would stop at the first such import with a
        # RuntimeError before any system check could run, so say it here.
        if not self.apps.is_installed("registrations"):
            raise ImproperlyConfigured(
                "(calls.E004) 'registrations' is not in INSTALLED_APPS: calling needs it for the "
                "sessions (registrations) of logged-in devices. HINT: Add 'registrations' to INSTALLED_APPS."
            )
        super().import_models()

    def ready(self):
        from . import checks

        checks.register()

from django.apps import AppConfig


class KindsConfig(AppConfig):
    name = "kinds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kinds import hooks

        hooks.install()

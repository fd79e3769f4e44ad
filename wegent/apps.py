from django.apps import AppConfig


class WegentConfig(AppConfig):
    """The project package is an app for its commands, tasks and schema extensions."""

    name = "wegent"
    verbose_name = "Wegent"

    def ready(self) -> None:
        from wegent.api import schema  # noqa: F401  (registers the OpenAPI auth extension)

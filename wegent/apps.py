from django.apps import AppConfig


class WegentConfig(AppConfig):
    """The project package is an app only for its templates, checks and commands."""

    name = "wegent"
    verbose_name = "Wegent"

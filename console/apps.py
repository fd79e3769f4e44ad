from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: the dashboard and the task inspector in Django admin. It sits above
    every other app (it reads and acts on all of them) and nothing imports it."""

    name = "console"
    verbose_name = "Operator console"
    default_auto_field = "django.db.models.BigAutoField"

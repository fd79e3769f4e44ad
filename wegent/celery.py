"""The Celery app. Task modules are each app's ``tasks.py`` (found by autodiscovery)."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")

app = Celery("wegent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _tracing_in_workers(**_: object) -> None:
    # `celery worker` / `celery beat` processes trace as the web workers do when OTEL_* asks
    # (the SDK's span processor restarts its thread in each forked pool process).
    from wegent.telemetry import configure_telemetry

    configure_telemetry()


signals.beat_init.connect(_tracing_in_workers)

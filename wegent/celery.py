"""The Celery app. Task modules are each app's ``tasks.py`` (found by autodiscovery)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")

app = Celery("wegent")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

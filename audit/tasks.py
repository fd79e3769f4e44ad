"""Periodic jobs of the audit trail (the beat entry is in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from audit import services


@shared_task(name="audit.purge_expired")
def purge_expired() -> int:
    return services.purge_expired()

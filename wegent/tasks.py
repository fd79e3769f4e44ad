"""Project-level Celery tasks."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache


@shared_task(name="wegent.heartbeat")
def heartbeat(key: str = "wegent:celery:heartbeat") -> str:
    """Records that a worker ran a task; used to check the worker (and beat) end to end."""
    from django.utils import timezone

    stamp = timezone.now().isoformat()
    cache.set(key, stamp, 3600)
    return stamp

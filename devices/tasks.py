"""Periodic jobs of the devices app."""

from __future__ import annotations

from celery import shared_task

from devices.services import lapse
from wegent.realtime import emitter


@shared_task(name="devices.end_lapsed_device_answers")
def end_lapsed_device_answers() -> int:
    """Ends RUNNING device answers whose device stopped heartbeating (FAILED, ``chat:error``)."""
    emits = lapse.end_lapsed()
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    return len(emits)

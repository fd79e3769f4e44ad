"""Periodic jobs of the devices app."""

from __future__ import annotations

from celery import shared_task

from devices.services import lapse, push
from wegent.realtime import emitter


@shared_task(name="devices.end_lapsed_device_answers")
def end_lapsed_device_answers() -> int:
    """Ends RUNNING device answers whose device stopped heartbeating (FAILED, ``chat:error``)."""
    emits = lapse.end_lapsed()
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    return len(emits)


@shared_task(name="devices.push_answer")
def push_answer(subtask_id: int) -> bool:
    """Push mode: hands the answer's task to the executor manager (FAILED when it cannot)."""
    emits = push.push(subtask_id)
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    return not emits

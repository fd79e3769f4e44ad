"""Periodic jobs of the chat app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from chat import protocol
from chat.services.answers import interrupted_answers
from chat.streams import WORKER_PREFIX
from wegent.realtime import emitter
from wegent.realtime.rooms import task_room


@shared_task(name="chat.end_interrupted_answers")
def end_interrupted_answers() -> int:
    """Ends answers whose stream died with its worker (FAILED, partial text kept)."""
    errors = interrupted_answers(settings.CHAT_STREAM_LEASE_SECONDS, WORKER_PREFIX)
    for payload in errors:
        emitter.emit_sync(protocol.CHAT_ERROR, payload, room=task_room(payload["task_id"]))
    return len(errors)

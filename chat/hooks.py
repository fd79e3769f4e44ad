"""What the chat app plugs in: the /chat namespace, task status events, stopping streams for
the REST cancel, the live text of running answers, and the server's shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from chat import protocol, stream_state
from chat.namespace import ChatNamespace
from chat.services import answers
from chat.services.status import status_payload, status_recipients
from chat.streams import WORKER_PREFIX, runner
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import events, lifecycle, messages
from wegent import lifespan
from wegent.realtime import emitter, namespaces
from wegent.realtime.rooms import user_room

logger = logging.getLogger(__name__)
STOP_WAIT_SECONDS = 5.0


def emit_task_status(task: TaskResource) -> None:
    """``task:status`` to the owner (and group members) after any change of the task."""
    payload = status_payload(task)
    for user_id in status_recipients(task):
        emitter.emit_sync(protocol.TASK_STATUS, payload, room=user_room(user_id))


def stop_stream(task: TaskResource, answer: Subtask) -> bool:
    """Stops a live direct-chat stream for ``POST /tasks/{id}/cancel`` and waits until it has
    saved its ending; False (the caller ends the answer itself) when no live stream has it."""
    if answer.status != statuses.RUNNING or not answer.worker_id.startswith(WORKER_PREFIX):
        return False
    lease = timezone.now() - dt.timedelta(seconds=settings.CHAT_STREAM_LEASE_SECONDS)
    if answer.heartbeat_at is None or answer.heartbeat_at < lease:
        return False
    if emitter.has_server_loop():
        emitter.in_server_loop(runner.request_cancel(answer.pk))
    else:  # e.g. a Celery worker: the stream runs in some web worker, reached through Redis
        async_to_sync(runner.request_cancel)(answer.pk)
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        if not selectors.is_running(answer.pk):
            return True
        time.sleep(0.05)
    return False


def start_answer(task: TaskResource, answer: Subtask) -> bool:
    """Streams an answer a REST route wrote (a confirmed pipeline stage) when its team chats
    directly; it runs on this process's server loop (the route ran in the server)."""
    if not emitter.has_server_loop():
        logger.info("answer %s of task %s waits: no server loop in this process", answer.pk, task.pk)
        return False
    prepared = answers.resumable(task, answer)
    if prepared is None:
        return False
    emitter.in_server_loop(_start(prepared))
    return True


async def _start(prepared: Any) -> None:
    runner.start(prepared)


def live_text(answer: Subtask) -> str | None:
    return stream_state.text(answer.pk)


async def shutdown() -> None:
    await runner.shutdown(settings.CHAT_SHUTDOWN_GRACE_SECONDS)


def install() -> None:
    namespaces.register(ChatNamespace())
    events.task_listeners.register(emit_task_status)
    lifecycle.stream_stoppers.register(stop_stream)
    lifecycle.answer_starters.register(start_answer)
    messages.live_text_providers.register(live_text)
    lifespan.shutdown.register(shutdown)

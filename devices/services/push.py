"""Push mode (``TASK_DISPATCH_MODE=push``, reference realtime §5.4): this server POSTs an
executor team's answer to the executor manager's ``/executor-manager/tasks/receive`` instead of
waiting for its poll, retrying a few times; when every attempt fails the answer ends FAILED with
``chat:error {type: "dispatch_failed"}``. Cancels go to its ``/tasks/cancel`` in either mode.

The executor manager's URL is the operator's setting, not user input: no outbound guard here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
from django.conf import settings
from django.db import transaction

from chat import protocol as chat_protocol
from chat.executors import ExecutorTurn
from chat.services.outcome import Emit
from devices.services import payload as task_payload
from devices.services.dispatch import end_cancelled, shell_type
from kinds.selectors import TeamContext
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.realtime.rooms import task_room

logger = logging.getLogger(__name__)
DISPATCH_FAILED = "dispatch_failed"
CANCEL_TIMEOUT_SECONDS = 5.0


def _url(path: str) -> str:
    return f"{settings.EXECUTOR_MANAGER_URL.rstrip('/')}/executor-manager{path}"


def pushes() -> bool:
    return settings.EXECUTOR_DISPATCH_MODE == "push"


def claim_new_answer(task: TaskResource, queue: Callable[[int], None]) -> bool:
    """Push mode: a task changed and now waits with a new PENDING answer of an executor team
    (whatever made it: ``chat:send``, ``POST /api/tasks``, the Kind API): the answer is taken
    (RUNNING) and ``queue``d for pushing (a Celery task). Tasks bound to a device are left to
    their device, direct chats to the chat runner."""
    if not pushes() or task.status != statuses.PENDING or task.spec.get("device_id"):
        return False
    if task.labels.get("source") == "chat_shell":
        return False
    answer = (
        Subtask.objects.filter(task_id=task.pk, role=Subtask.ASSISTANT, status=statuses.PENDING)
        .order_by("-message_id")
        .first()
    )
    if answer is None or answer.executor_name.startswith("device-"):
        return False
    if not Subtask.objects.filter(pk=answer.pk, status=statuses.PENDING).update(status=statuses.RUNNING):
        return False  # taken meanwhile
    lifecycle.refresh_task_status(task.pk)
    transaction.on_commit(lambda: queue(answer.pk))
    return True


def started(turn: ExecutorTurn) -> list[Emit] | None:
    """``chat:send`` of an executor team without a device, in push mode: its answer was taken
    for pushing when the turn was stored (``claim_new_answer``); the ``chat:start`` to send.
    None in pull mode (the answer waits PENDING for the executor manager's poll)."""
    if turn.device_id or not pushes():
        return None
    start = chat_protocol.chat_start(
        task_id=turn.task.pk,
        subtask_id=turn.answer.pk,
        message_id=turn.answer.message_id,
        shell_type=shell_type(turn.team),
        bot_name=None,
    )
    return [Emit(chat_protocol.CHAT_START, start, task_room(turn.task.pk))]


def push(subtask_id: int) -> list[Emit]:
    """Sends the answer's task to the executor manager; the events to send when it could not."""
    row = Subtask.objects.select_related("task", "task__owner").filter(pk=subtask_id).first()
    if row is None or row.status != statuses.RUNNING:
        return []
    team = turns.team_of(row.task)
    if team is None:
        return _failed(row, "Team not found")
    body = task_payload.format_task(row.task, row, team, context=TeamContext([team]))
    headers = {"Authorization": f"Bearer {body['auth_token']}"}
    attempts = max(1, settings.EXECUTOR_PUSH_ATTEMPTS)
    for attempt in range(attempts):
        try:
            response = httpx.post(
                _url("/tasks/receive"),
                params={"queue_type": body["type"] if body["type"] == "offline" else "online"},
                json={"tasks": [body]},
                headers=headers,
                timeout=settings.EXECUTOR_PUSH_TIMEOUT_SECONDS,
            )
            if response.status_code < 300:
                return []
            logger.warning("executor manager refused task %s: HTTP %s", row.task_id, response.status_code)
        except httpx.HTTPError as exc:
            logger.warning("executor manager unreachable for task %s: %s", row.task_id, type(exc).__name__)
        if attempt + 1 < attempts:
            time.sleep(settings.EXECUTOR_PUSH_RETRY_SECONDS * (attempt + 1))
    return _failed(row, "Failed to dispatch the task to the executor manager")


def _failed(row: Subtask, message: str) -> list[Emit]:
    with transaction.atomic():
        locked = Subtask.objects.select_for_update().filter(pk=row.pk).first()
        if locked is None or locked.status != statuses.RUNNING:
            return []
        lifecycle.update_subtask(
            row.pk,
            lifecycle.SubtaskChanges(
                status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
            ),
        )
    error = chat_protocol.chat_error(
        task_id=row.task_id, subtask_id=row.pk, error_text=message, message_id=row.message_id
    )
    error["type"] = DISPATCH_FAILED
    return [Emit(chat_protocol.CHAT_ERROR, error, task_room(row.task_id))]


def request_cancel(task_id: int) -> bool:
    """``POST /executor-manager/tasks/cancel``; False (logged) when it did not answer 2xx."""
    try:
        response = httpx.post(
            _url("/tasks/cancel"), json={"task_id": task_id}, timeout=CANCEL_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        logger.warning("executor manager cancel of task %s failed: %s", task_id, type(exc).__name__)
        return False
    return response.status_code < 300


def _executor_runs(answer: Subtask) -> bool:
    """Whether the executor manager runs this answer (not a device, not a chat stream)."""
    return (
        answer.status == statuses.RUNNING
        and not answer.executor_name.startswith("device-")
        and not answer.worker_id.startswith("chat:")
        and answer.task.labels.get("source") != "chat_shell"
    )


def cancel(answer: Subtask, partial_content: str | None) -> list[Emit] | None:
    """``chat:cancel`` of an answer the executor manager runs: its cancel route, and the answer
    ends CANCELLED now with the text shown so far (reference realtime §2.2)."""
    if not _executor_runs(answer):
        return None
    request_cancel(answer.task_id)
    return end_cancelled(answer, partial_content)


def cancel_requested(task: TaskResource) -> None:
    """``POST /api/tasks/{id}/cancel`` moved an executor's task to CANCELLING: the executor
    manager cancels it, and its executor reports CANCELLED."""
    if task.status != statuses.CANCELLING:
        return
    answer = Subtask.objects.select_related("task").filter(task_id=task.pk, status=statuses.RUNNING).first()
    if answer is not None and _executor_runs(answer):
        request_cancel(task.pk)

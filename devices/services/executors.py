"""Wegent's executor manager (Docker executors) as a client of this server (reference realtime
§5): it claims PENDING answers of executor teams (pull mode) or receives them (push mode), and
reports their progress back. Only a caller holding the service token reaches these rules.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from chat import protocol as chat_protocol
from chat.services.outcome import Emit
from devices.exceptions import ExecutorTokenRequired
from devices.services import payload as task_payload
from devices.services import stages
from devices.services.dispatch import shell_type
from kinds.selectors import TeamContext
from tasks import documents, statuses
from tasks import selectors as task_selectors
from tasks.exceptions import SubtaskNotFound
from tasks.models import TASK, Subtask, TaskResource
from tasks.services import events, lifecycle, turns
from wegent.errors import BadRequest
from wegent.realtime.rooms import task_room

ONLINE_TYPES = ("", "online", "subscription")
# Candidates read per wanted task: some are skipped (devices' tasks, claims lost to a racer).
CANDIDATES_PER_TASK = 4


def check_token(presented: str | None) -> None:
    """The service token, compared in constant time; refused when none is configured."""
    expected = settings.EXECUTOR_TOKEN
    if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ExecutorTokenRequired()


@dataclass
class Claimed:
    tasks: list[dict[str, Any]] = field(default_factory=list)
    emits: list[Emit] = field(default_factory=list)


def _candidates(task_status: str, limit: int, queue: str, task_ids: list[int] | None) -> list[TaskResource]:
    rows = TaskResource.objects.filter(kind=TASK, is_active=True, status=task_status).select_related("owner")
    if task_ids is not None:
        rows = rows.filter(pk__in=[i for i in task_ids if 0 < i <= task_selectors.MAX_ID])
    else:
        rows = rows.filter(task_mode__in=ONLINE_TYPES if queue == "online" else ("offline",))
    rows = rows.order_by("-id")[: limit * CANDIDATES_PER_TASK + 10]
    # Direct chats stream in this server; devices' tasks go to their device (§4.8's race).
    return [
        task for task in rows if task.labels.get("source") != "chat_shell" and not task.spec.get("device_id")
    ]


def _answer_of(task: TaskResource, task_status: str, with_running_check: bool) -> Subtask | None:
    answers = Subtask.objects.filter(task=task, role=Subtask.ASSISTANT)
    if with_running_check and answers.filter(status=statuses.RUNNING).exists():
        return None
    return answers.filter(status=task_status).order_by("message_id").first()


def claim(*, task_status: str, limit: int, queue: str, task_ids: list[int] | None) -> Claimed:
    """``POST /api/executors/tasks/dispatch``: up to ``limit`` answers moved PENDING -> RUNNING
    (a conditional update: of two pollers exactly one gets each), with their task payloads."""
    claimed = Claimed()
    for task in _candidates(task_status, limit, queue, task_ids):
        if len(claimed.tasks) >= limit:
            break
        answer = _answer_of(task, task_status, with_running_check=task_ids is not None)
        if answer is None:
            continue
        won = Subtask.objects.filter(pk=answer.pk, status=task_status).update(status=statuses.RUNNING)
        if not won:
            continue  # another poller took it
        lifecycle.refresh_task_status(task.pk)
        team = turns.team_of(task)
        if team is None:
            _fail(answer, "Team not found")
            continue
        answer.refresh_from_db()
        context = TeamContext([team])
        claimed.tasks.append(task_payload.format_task(task, answer, team, context=context))
        start = chat_protocol.chat_start(
            task_id=task.pk,
            subtask_id=answer.pk,
            message_id=answer.message_id,
            shell_type=shell_type(team, context),
            bot_name=None,
        )
        claimed.emits.append(Emit(chat_protocol.CHAT_START, start, task_room(task.pk)))
    return claimed


def _fail(answer: Subtask, message: str) -> None:
    lifecycle.update_subtask(
        answer.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message=message)
    )


@dataclass(frozen=True)
class ExecutorUpdate:
    """``PUT /api/executors/tasks`` (``SubtaskExecutorUpdate``)."""

    subtask_id: int
    status: str
    progress: int = 0
    task_title: str | None = None
    subtask_title: str | None = None
    executor_namespace: str | None = None
    executor_name: str | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None


def _merged_thinking(stored: Any, incoming: Any) -> Any:
    """Steps already stored stay; new ones are appended (the executor resends the whole list)."""
    if not isinstance(incoming, list):
        return stored
    kept = list(stored) if isinstance(stored, list) else []
    kept += [step for step in incoming if isinstance(step, dict) and step not in kept]
    return kept


@dataclass
class Updated:
    body: dict[str, Any]
    emits: list[Emit] = field(default_factory=list)


def update(task_id: int | None, change: ExecutorUpdate) -> Updated:
    """An executor's report on its answer (reference realtime §5.2)."""
    with transaction.atomic():
        row = (
            Subtask.objects.select_for_update()
            .filter(pk=change.subtask_id, role=Subtask.ASSISTANT)
            .select_related("task")
            .first()
            if 0 < change.subtask_id <= task_selectors.MAX_ID
            else None
        )
        if row is None or (task_id is not None and row.task_id != task_id) or not row.task.is_active:
            raise SubtaskNotFound()
        if row.status in statuses.FINAL:
            raise BadRequest(f"Subtask is already {row.status}")
        if row.executor_name.startswith("device-"):
            raise BadRequest("Subtask runs on a device")
        stored = row.result if isinstance(row.result, dict) else {}
        incoming = change.result or {}
        result = {**stored, **incoming}
        value = incoming.get("value")
        if not isinstance(value, str) or not value:  # an empty value keeps the text so far
            result["value"] = stored.get("value") if isinstance(stored.get("value"), str) else ""
        if change.status == statuses.FAILED and not incoming.get("thinking"):
            result["thinking"] = stored.get("thinking")
        else:
            result["thinking"] = _merged_thinking(stored.get("thinking"), incoming.get("thinking"))
        if change.status == statuses.FAILED and change.error_message:
            result["error"] = change.error_message
        previous = stored.get("value") if isinstance(stored.get("value"), str) else ""
        # Whether this answer ends its turn as seen now (a next pipeline stage comes after it).
        last = _is_last(row)
        if change.task_title and change.task_title != row.task.spec.get("title"):
            _retitle(row.task, change.task_title)
        # The executor it names now is the one a next pipeline stage inherits.
        row.executor_name = change.executor_name or row.executor_name
        row.executor_namespace = change.executor_namespace or row.executor_namespace
        end = stages.end_of(row, change.status, result["value"])
        saved = lifecycle.update_subtask(
            row.pk,
            lifecycle.SubtaskChanges(
                status=end.status,
                progress=change.progress,
                result=result,
                error_message=change.error_message,
                title=change.subtask_title,
                executor_name=change.executor_name,
                executor_namespace=change.executor_namespace,
            ),
        )
    shell = _shell_of(row.task)
    emits: list[Emit] = []
    room = task_room(row.task_id)
    text = result["value"]
    shown = {**result, "shell_type": shell}
    if change.status == statuses.RUNNING:
        delta = text[len(previous) :] if text.startswith(previous) else ""
        if delta or incoming.get("thinking") or incoming.get("workbench"):
            chunk = chat_protocol.chat_chunk(
                task_id=row.task_id,
                subtask_id=row.pk,
                content=delta,
                offset=len(previous),
                block_id=None,
                result=shown,
            )
            emits.append(Emit(chat_protocol.CHAT_CHUNK, chunk, room))
    elif (change.status in statuses.FINAL or saved.status == statuses.PENDING_CONFIRMATION) and last:
        done = chat_protocol.chat_done(
            task_id=row.task_id, subtask_id=row.pk, offset=len(text), result=shown, message_id=row.message_id
        )
        emits.append(Emit(chat_protocol.CHAT_DONE, done, room))
    body = {
        "subtask_id": saved.pk,
        "task_id": saved.task_id,
        "status": saved.status,
        "progress": saved.progress,
        "message": "Subtask updated successfully",
    }
    return Updated(body, emits)


def _retitle(task: TaskResource, title: str) -> None:
    """The executor renamed the task (``task_title``, reference realtime §5.2)."""
    task.document = documents.changed(task.document, spec={"title": title})
    task.save(update_fields=["document", "updated_at"])
    events.task_changed(task)


def _shell_of(task: TaskResource) -> str:
    team = turns.team_of(task)
    return shell_type(team) if team is not None else ""


def _is_last(row: Subtask) -> bool:
    newest = task_selectors.latest_answer_of(row.task_id)
    return newest is None or newest.pk == row.pk

"""What a device reports about the answers it runs (reference realtime §4.5, §4.8): the checks
and the saved text of progress (its ``chat:chunk``s are made by ``devices.streams``); completion
(``task:complete``, ``task:result``, or a terminal status in ``task:progress``) becomes
``chat:done`` or ``chat:error``, and the task's status follows (``task:status`` through the
tasks hook).

A device reports only into answers given to it: its owner's, naming it in the executor fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from chat import protocol as chat_protocol
from chat.services.outcome import Emit
from devices import protocol, selectors
from devices.services import stages
from tasks import statuses
from tasks.models import Subtask
from tasks.services import lifecycle
from wegent.realtime.rooms import task_room, user_room

OFFSET_KEY = "_last_emitted_offset"
TERMINAL = {
    "COMPLETED": statuses.COMPLETED,
    "SUCCESS": statuses.COMPLETED,
    "FAILED": statuses.FAILED,
    "CANCELLED": statuses.CANCELLED,
}
SHOWN = ("value", "thinking", "workbench")


@dataclass(frozen=True)
class Started:
    """A running answer as its device's connection starts streaming it (``devices.streams``)."""

    subtask_id: int
    task_id: int
    result: dict[str, Any]


@dataclass
class Reported:
    """The ack and the events of one report."""

    ack: dict[str, Any]
    emits: list[Emit] = field(default_factory=list)


def is_progress(event: str, report: protocol.TaskReport) -> bool:
    """Whether the report keeps the answer running (no ending status)."""
    return _ending(report, event) is None


def _refused(message: str) -> Reported:
    return Reported(protocol.error(message))


def _refusal(row: Subtask | None, user_id: int, device_id: str) -> Reported | None:
    # Another user's answer does not exist for this device (its id reveals nothing).
    if (
        row is None
        or row.user_id != user_id
        or row.executor_namespace != protocol.executor_namespace(user_id)
    ):
        return _refused(protocol.SUBTASK_NOT_FOUND)
    if row.executor_name != protocol.executor_name(device_id):
        return _refused(protocol.NOT_THIS_DEVICE)
    if row.status != statuses.RUNNING:
        return _refused(protocol.SUBTASK_FINISHED)
    return None


def _locked_answer(user_id: int, device_id: str, subtask_id: int) -> Subtask | Reported:
    row = (
        Subtask.objects.select_for_update()
        .select_related("task")
        .filter(pk=subtask_id, role=Subtask.ASSISTANT)
        .first()
    )
    refused = _refusal(row, user_id, device_id)
    if refused is not None:
        return refused
    assert row is not None
    return row


def _shown(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in SHOWN}


def _ending(report: protocol.TaskReport, event: str) -> str | None:
    """The status a report ends the answer with; None for a progress report."""
    status = (report.status or "").upper()
    if event == protocol.TASK_PROGRESS:
        return TERMINAL.get(status)
    return TERMINAL.get(status, statuses.COMPLETED)


def complete(user_id: int, device_id: str, event: str, report: protocol.TaskReport) -> Reported:
    """A report that ends the answer: ``task:complete``, ``task:result``, or a ``task:progress``
    with an ending status (progress reports are streamed: ``devices.streams``)."""
    ending = _ending(report, event) or statuses.COMPLETED
    with transaction.atomic():
        row = _locked_answer(user_id, device_id, report.subtask_id)
        if isinstance(row, Reported):
            return row
        output = _value(row, report)
        return _complete(row, report, stages.end_of(row, ending, output).status, device_id)


def running_answer(user_id: int, device_id: str, subtask_id: int) -> Started | Reported:
    """The answer a progress report is about, if it runs on this device (a read: its text is
    then saved by ``save_progress``, which rechecks it is still running)."""
    row = (
        Subtask.objects.filter(pk=subtask_id, role=Subtask.ASSISTANT)
        .only("pk", "task_id", "user_id", "status", "executor_name", "executor_namespace", "result")
        .first()
    )
    refused = _refusal(row, user_id, device_id)
    if refused is not None:
        return refused
    assert row is not None
    stored = row.result if isinstance(row.result, dict) else {}
    value = stored.get("value") if isinstance(stored.get("value"), str) else ""
    sent = stored.get(OFFSET_KEY) if isinstance(stored.get(OFFSET_KEY), int) else len(value)
    return Started(row.pk, row.task_id, {**stored, "value": value[:sent]})


def save_progress(
    user_id: int, device_id: str, subtask_id: int, progress: int | None, result: dict[str, Any]
) -> bool:
    """Stores a running answer's text (one statement); False when it is no longer RUNNING on
    this device (cancelled or ended elsewhere)."""
    fields: dict[str, Any] = {"result": result, "updated_at": timezone.now()}
    if progress is not None:
        fields["progress"] = progress
    return bool(
        Subtask.objects.filter(
            pk=subtask_id,
            status=statuses.RUNNING,
            executor_name=protocol.executor_name(device_id),
            executor_namespace=protocol.executor_namespace(user_id),
        ).update(**fields)
    )


def _value(row: Subtask, report: protocol.TaskReport) -> str:
    """The answer's final text: the report's, else what was stored."""
    incoming = report.result.get("value") if report.result is not None else None
    if isinstance(incoming, str):
        return incoming
    stored = row.result.get("value") if isinstance(row.result, dict) else None
    return stored if isinstance(stored, str) else ""


def _complete(row: Subtask, report: protocol.TaskReport, ending: str, device_id: str) -> Reported:
    stored = row.result if isinstance(row.result, dict) else {}
    incoming = report.result if report.result is not None else {}
    result = {key: incoming.get(key, stored.get(key)) for key in SHOWN}
    if not isinstance(result["value"], str):
        result["value"] = stored.get("value") if isinstance(stored.get("value"), str) else ""
    extra = {k: v for k, v in incoming.items() if k not in SHOWN and k != OFFSET_KEY}
    message = report.error_message or (report.message if ending == statuses.FAILED else None)
    if ending == statuses.FAILED:
        message = message or "Task failed"
        result = {**extra, **result, "error": message}
    else:
        result = {**extra, **result}
    lifecycle.update_subtask(
        row.pk,
        lifecycle.SubtaskChanges(
            status=ending,
            progress=report.progress if report.progress is not None else 100,
            result=result,
            error_message=message,
        ),
    )
    room = task_room(row.task_id)
    if ending == statuses.FAILED:
        event = chat_protocol.chat_error(
            task_id=row.task_id,
            subtask_id=row.pk,
            error_text=message or "Task failed",
            message_id=row.message_id,
        )
        emits = [Emit(chat_protocol.CHAT_ERROR, event, room)]
    else:
        done = chat_protocol.chat_done(
            task_id=row.task_id,
            subtask_id=row.pk,
            offset=len(result["value"]),
            result=_shown(result),
            message_id=row.message_id,
        )
        emits = [Emit(chat_protocol.CHAT_DONE, done, room)]
    slots = selectors.slot_state(row.user_id, device_id)
    emits.append(Emit(protocol.DEVICE_SLOT_UPDATE, slots, user_room(row.user_id)))
    return Reported({"success": True}, emits)

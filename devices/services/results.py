"""What a device reports about the answers it runs (reference realtime §4.5, §4.8): progress
deltas become ``chat:chunk``; completion (``task:complete``, ``task:result``, or a terminal
status in ``task:progress``) becomes ``chat:done`` or ``chat:error``, and the task's status
follows (``task:status`` through the tasks hook).

A device reports only into answers given to it: its owner's, naming it in the executor fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from chat import protocol as chat_protocol
from chat.services.outcome import Emit
from devices import protocol, selectors
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


@dataclass
class Reported:
    """The ack and the events of one report."""

    ack: dict[str, Any]
    emits: list[Emit] = field(default_factory=list)


def _refused(message: str) -> Reported:
    return Reported(protocol.error(message))


def _locked_answer(user_id: int, device_id: str, subtask_id: int) -> Subtask | Reported:
    row = Subtask.objects.select_for_update().filter(pk=subtask_id, role=Subtask.ASSISTANT).first()
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
    return row


def _shown(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in SHOWN}


def _ending(report: protocol.TaskReport, event: str) -> str | None:
    """The status a report ends the answer with; None for a progress report."""
    status = (report.status or "").upper()
    if event == protocol.TASK_PROGRESS:
        return TERMINAL.get(status)
    return TERMINAL.get(status, statuses.COMPLETED)


def report(user_id: int, device_id: str, event: str, report: protocol.TaskReport) -> Reported:
    """A ``task:progress``, ``task:complete`` or ``task:result`` of the device."""
    ending = _ending(report, event)
    with transaction.atomic():
        row = _locked_answer(user_id, device_id, report.subtask_id)
        if isinstance(row, Reported):
            return row
        if ending is None:
            return _progress(row, report)
        return _complete(row, report, ending, device_id)


def _progress(row: Subtask, report: protocol.TaskReport) -> Reported:
    stored = row.result if isinstance(row.result, dict) else {}
    sent = stored.get(OFFSET_KEY) if isinstance(stored.get(OFFSET_KEY), int) else 0
    changes = lifecycle.SubtaskChanges(progress=report.progress)
    incoming = report.result
    if incoming is None:
        lifecycle.update_subtask(row.pk, changes)
        return Reported({"success": True})
    value = incoming.get("value") if isinstance(incoming.get("value"), str) else stored.get("value") or ""
    delta = value[sent:] if len(value) > sent else ""
    thinking = incoming.get("thinking", stored.get("thinking"))
    workbench = incoming.get("workbench", stored.get("workbench"))
    result = {"value": value, "thinking": thinking, "workbench": workbench, OFFSET_KEY: sent + len(delta)}
    changes.result = result
    lifecycle.update_subtask(row.pk, changes)
    if not delta and not incoming.get("thinking") and not incoming.get("workbench"):
        return Reported({"success": True})
    chunk = chat_protocol.chat_chunk(
        task_id=row.task_id,
        subtask_id=row.pk,
        content=delta,
        offset=sent,  # the length before this delta, as every chunk of this server
        block_id=None,
        result=_shown(result),
    )
    return Reported({"success": True}, [Emit(chat_protocol.CHAT_CHUNK, chunk, task_room(row.task_id))])


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

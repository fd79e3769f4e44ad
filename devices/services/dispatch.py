"""Giving an executor team's answer to the user's device, and reaching the device afterwards:
cancel, close its session (reference realtime §4.4, §4.6, §2.2 ``chat:cancel``).

Functions return the events to send (``Emit``s, for ``/chat`` and ``/local-executor`` rooms);
the caller sends them after its own, so a browser sees ``chat:start`` before any chunk.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from chat import protocol as chat_protocol
from chat import stream_state
from chat.executors import ExecutorTurn
from chat.services.outcome import Emit
from devices import handoff, presence, protocol, selectors
from devices.exceptions import DeviceOffline
from devices.services import payload as task_payload
from devices.services import results
from kinds.selectors import TeamContext
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.realtime import emitter
from wegent.realtime.rooms import device_room, task_room, user_room


def shell_type(team: Any, context: TeamContext | None = None) -> str:
    """The shell the team's first bot runs on (``chat:start``'s ``shell_type``)."""
    context = context or TeamContext([team])
    members = context.members(team)
    return context.shell_type(members[0][1]) if members else "ClaudeCode"


def _start(task: TaskResource, answer: Subtask, shell: str) -> Emit:
    payload = chat_protocol.chat_start(
        task_id=task.pk, subtask_id=answer.pk, message_id=answer.message_id, shell_type=shell, bot_name=None
    )
    return Emit(chat_protocol.CHAT_START, payload, task_room(task.pk))


def _fail(task: TaskResource, answer: Subtask, message: str) -> Emit:
    lifecycle.update_subtask(
        answer.pk,
        lifecycle.SubtaskChanges(
            status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
        ),
    )
    error = chat_protocol.chat_error(
        task_id=task.pk, subtask_id=answer.pk, error_text=message, message_id=answer.message_id
    )
    return Emit(chat_protocol.CHAT_ERROR, error, task_room(task.pk))


def to_device(turn: ExecutorTurn) -> list[Emit] | None:
    """``chat:send`` with a ``device_id`` for an executor team: the answer goes to the device
    (RUNNING, executor fields naming it), or fails at once when the device is offline. A
    follow-up without one goes to the device the task is bound to (its session is there, and
    neither the executor manager's poll nor push mode takes a device's task)."""
    device_id = turn.device_id or str(turn.task.spec.get("device_id") or "")
    if not device_id:
        return None
    # The task's owner's device runs it, whoever asked in a group chat.
    task, answer = turn.task, turn.answer
    context = TeamContext([turn.team])
    emits = [_start(task, answer, shell_type(turn.team, context))]
    device = selectors.own_device(task.owner, device_id)
    if device is None or presence.get(task.owner_id, device_id) is None:
        return [*emits, _fail(task, answer, DeviceOffline.default_detail)]
    name, namespace = protocol.executor_name(device_id), protocol.executor_namespace(task.owner_id)
    with transaction.atomic():
        # Conditional: an executor manager polling right now may have taken it first (§4.8).
        taken = Subtask.objects.filter(pk=answer.pk, status=statuses.PENDING).update(
            status=statuses.RUNNING, executor_name=name, executor_namespace=namespace, worker_id=name[:64]
        )
        if not taken:
            return []
        locked = TaskResource.objects.select_for_update().get(pk=task.pk)
        if locked.spec.get("device_id") != device_id:
            locked.document = {**locked.document, "spec": {**locked.spec, "device_id": device_id}}
            locked.save(update_fields=["document", "updated_at"])
    lifecycle.refresh_task_status(task.pk)
    answer.refresh_from_db()
    handoff.remember(task.owner_id, device_id, results.Started(answer.pk, task.pk, {"value": ""}))
    body = task_payload.format_task(task, answer, turn.team, context=context)
    return [
        *emits,
        Emit(
            protocol.TASK_EXECUTE,
            body,
            device_room(task.owner_id, device_id),
            namespace=protocol.NAMESPACE,
        ),
        Emit(
            protocol.DEVICE_SLOT_UPDATE,
            selectors.slot_state(task.owner_id, device_id),
            user_room(task.owner_id),
        ),
    ]


def device_of(answer: Subtask) -> tuple[int, str] | None:
    """(owner id, device id) of an answer given to a device."""
    if not answer.executor_name.startswith("device-"):
        return None
    owner = answer.executor_namespace.removeprefix("user-")
    if not owner.isdigit():
        return None
    return int(owner), answer.executor_name.removeprefix("device-")


def end_stream_state(task_id: int, subtask_id: int) -> None:
    """An answer ended elsewhere than on its device's connection: the live text joins read
    goes now (outside a server process it expires with its TTL)."""
    if emitter.has_server_loop():
        emitter.in_server_loop(stream_state.finish(task_id, subtask_id))


def end_cancelled(answer: Subtask, partial_content: str | None) -> list[Emit]:
    """The answer ends CANCELLED with the text shown so far (its thinking kept), as the
    reference's ``chat:cancel`` does whatever runs it; ``chat:cancelled`` and ``chat:done``."""
    handoff.forget(answer.pk)
    with transaction.atomic():
        row = Subtask.objects.select_for_update().filter(pk=answer.pk).first()
        if row is None or row.status not in statuses.ACTIVE:
            return []
        stored = row.result if isinstance(row.result, dict) else {}
        result = {key: stored[key] for key in ("thinking", "workbench") if key in stored}
        result["value"] = partial_content or ""
        lifecycle.update_subtask(
            row.pk, lifecycle.SubtaskChanges(status=statuses.CANCELLED, progress=100, result=result)
        )
    end_stream_state(answer.task_id, answer.pk)
    room = task_room(answer.task_id)
    done = chat_protocol.chat_done(
        task_id=answer.task_id,
        subtask_id=answer.pk,
        offset=len(result["value"]),
        result=result,
        message_id=answer.message_id,
    )
    cancelled = chat_protocol.chat_cancelled(task_id=answer.task_id, subtask_id=answer.pk)
    return [Emit(chat_protocol.CHAT_CANCELLED, cancelled, room), Emit(chat_protocol.CHAT_DONE, done, room)]


def cancel(answer: Subtask, partial_content: str | None) -> list[Emit] | None:
    """``chat:cancel`` of a device's answer: ``task:cancel`` to the device, and the answer ends
    CANCELLED now (the device's later report of it changes nothing)."""
    device = device_of(answer)
    if device is None:
        return None
    owner_id, device_id = device
    ended = end_cancelled(answer, partial_content)
    if not ended:
        return []
    stop = Emit(
        protocol.TASK_CANCEL,
        protocol.task_cancel(task_id=answer.task_id, subtask_id=answer.pk),
        device_room(owner_id, device_id),
        namespace=protocol.NAMESPACE,
    )
    slots = Emit(protocol.DEVICE_SLOT_UPDATE, selectors.slot_state(owner_id, device_id), user_room(owner_id))
    return [stop, *ended, slots]


def close_session_events(task: TaskResource) -> list[Emit]:
    """``task:close-session`` to the device of the task's newest device answer, if any."""
    answer = selectors.latest_device_answer(task.pk)
    device = device_of(answer) if answer is not None else None
    if device is None:
        return []
    owner_id, device_id = device
    return [
        Emit(
            protocol.TASK_CLOSE_SESSION,
            protocol.task_close_session(task_id=task.pk),
            device_room(owner_id, device_id),
            namespace=protocol.NAMESPACE,
        )
    ]


def cancel_requested(task: TaskResource) -> list[Emit]:
    """``POST /api/tasks/{id}/cancel`` moved the task to CANCELLING: ``task:cancel`` to the
    device running its answer; the device reports the end (CANCELLED) as usual."""
    if task.status != statuses.CANCELLING:
        return []
    answer = selectors.running_answers(task.owner_id).filter(task_id=task.pk).first()
    device = device_of(answer) if answer is not None else None
    if device is None:
        return []
    owner_id, device_id = device
    payload = protocol.task_cancel(task_id=task.pk, subtask_id=answer.pk)
    return [
        Emit(protocol.TASK_CANCEL, payload, device_room(owner_id, device_id), namespace=protocol.NAMESPACE)
    ]


def written_answer(task: TaskResource, answer: Subtask) -> list[Emit] | None:
    """An answer a REST route wrote outside a chat turn (a confirmed pipeline stage) on a task
    bound to a device: it goes to that device (or fails at once if it is offline); None for
    tasks without a device."""
    device_id = task.spec.get("device_id")
    team = turns.team_of(task) if device_id else None
    if not device_id or team is None:
        return None
    return to_device(ExecutorTurn(task.owner, task, answer, team, device_id))

"""What an operator may do to a task from the console, through the same services as the web
frontend's events, so connected clients get the same events and the same rules hold.

The operator acts for the task's owner (the services check access as the owner would); who
really acted is recorded by the admin (``log_change``), which the audit trail mirrors.
"""

from __future__ import annotations

from chat import protocol
from chat.services import answers
from chat.streams import Answer, runner
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle
from wegent.errors import BadRequest
from wegent.realtime import emitter
from wegent.realtime.rooms import task_room

OPERATOR_FAILED = "Ended by an operator"


def cancel(task: TaskResource) -> str:
    """The REST cancel (``POST /tasks/{id}/cancel``): a live stream on any worker stops and its
    clients get ``chat:cancelled``. Returns the service's message."""
    return lifecycle.cancel_task(actor=task.owner, task_id=task.pk)["message"]


def _answer(task: TaskResource, subtask_id: int) -> Subtask:
    row = selectors.answer_in(task, subtask_id)
    if row is None:
        raise BadRequest("AI subtask not found")
    return row


async def _start(prepared: Answer) -> None:
    runner.start(prepared)


def retry(task: TaskResource, subtask_id: int) -> None:
    """``chat:retry`` as the owner would send it: the failed answer is reset and streamed again
    on this process's server loop (the console's request runs in the server)."""
    if not emitter.has_server_loop():
        raise BadRequest("This process runs no chat streams (no server loop): retry from a web worker")
    payload = protocol.ChatRetry(task_id=task.pk, subtask_id=subtask_id)
    outcome = answers.retry(task.owner, payload, accepting=runner.accepting)
    if isinstance(outcome.ack, dict) and "error" in outcome.ack:
        raise BadRequest(str(outcome.ack["error"]))
    for item in outcome.emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    for prepared in outcome.answers:
        emitter.in_server_loop(_start(prepared))


def end_as_failed(task: TaskResource, subtask_id: int) -> None:
    """Ends a stuck answer (PENDING or RUNNING that never finishes) FAILED, keeping its partial
    text; the task room gets ``chat:error`` and the task's status follows (``task:status``)."""
    row = _answer(task, subtask_id)
    if row.status not in statuses.ACTIVE:
        raise BadRequest(f"Cannot end an answer in {row.status} state")
    payload = answers.fail_answer(row, OPERATOR_FAILED)
    if payload is None:
        raise BadRequest("The answer ended meanwhile")
    emitter.emit_sync(protocol.CHAT_ERROR, payload, room=task_room(task.pk))

"""What the devices app plugs in: the /local-executor namespace, routing executor teams'
answers to devices (``chat:send``), stopping them (``chat:cancel``), closing device sessions
(``task:close-session``, task delete), and ending device work at shutdown."""

from __future__ import annotations

from chat import executors
from devices import protocol, selectors
from devices.namespace import LocalExecutorNamespace
from devices.services import dispatch, push
from devices.tasks import push_answer
from kinds import events as kind_events
from tasks.models import Subtask, TaskResource
from tasks.services import events, lifecycle
from wegent import lifespan
from wegent.realtime import emitter, namespaces

namespace = LocalExecutorNamespace()


def close_session(task: TaskResource) -> bool:
    """``task:close-session`` to the task's device; True when the task has one."""
    emits = dispatch.close_session_events(task)
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    return bool(emits)


def task_deleted(task: TaskResource) -> None:
    close_session(task)


def task_changed(task: TaskResource) -> None:
    for item in dispatch.cancel_requested(task):
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    push.cancel_requested(task)
    push.claim_new_answer(task, queue=push_answer.delay)


def start_answer(task: TaskResource, answer: Subtask) -> bool:
    """A confirmed pipeline stage of a task bound to a device goes to the device."""
    emits = dispatch.written_answer(task, answer)
    if emits is None:
        return False
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)
    return True


async def shutdown() -> None:
    namespace.accepting = False  # new devices are refused; connected ones keep their socket


def install() -> None:
    assert namespace.path == protocol.NAMESPACE
    namespaces.register(namespace)
    executors.dispatchers.register(dispatch.to_device)
    executors.dispatchers.register(push.started)
    executors.cancellers.register(dispatch.cancel)
    executors.cancellers.register(push.cancel)
    executors.session_closers.register(close_session)
    events.deleted_listeners.register(task_deleted)
    events.task_listeners.register(task_changed)
    lifecycle.answer_starters.register(start_answer)
    lifespan.shutdown.register(shutdown)
    kind_events.live_status.register(selectors.live_documents)

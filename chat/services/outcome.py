"""What a ``/chat`` event returns to the namespace, and the task check every event shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from chat import protocol
from chat.streams import Answer
from quotas.exceptions import QuotaExceeded
from tasks import selectors
from tasks.exceptions import TaskNotFound
from tasks.models import TaskResource

ACCESS_DENIED = "Access denied"


@dataclass
class Emit:
    event: str
    payload: dict[str, Any]
    room: str
    skip_sender: bool = False
    # Events about devices go to ``/local-executor`` rooms (devices app).
    namespace: str = protocol.NAMESPACE


@dataclass
class Outcome:
    """An event's result: the ack, rooms to enter first, events to send, answers to stream."""

    ack: Any
    rooms: list[str] = field(default_factory=list)
    emits: list[Emit] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def failed(message: str) -> Outcome:
    return Outcome(ack=protocol.error(message))


def over_quota(exc: QuotaExceeded) -> Outcome:
    """The refusal of a message or retry over a quota: the error, when it resets, the quota."""
    return Outcome(ack={**protocol.error(str(exc.detail)), **exc.extra})


def visible_task(actor: User, task_id: Any) -> TaskResource | None:
    """The task an event names, if ``actor`` may see it (tasks' gate); None for anything else,
    including ids that are not ids at all (``task:close-session`` passes its payload's raw value)."""
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        return None
    try:
        return selectors.accessible_task(actor, task_id)
    except TaskNotFound:
        return None

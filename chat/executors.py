"""Answers chat does not produce itself: teams whose bots run on a user's device or in an
executor (ClaudeCode, Agno, ...). The devices app fills these hooks from its ``ready()``; chat
calls them at ``chat:send``, ``chat:cancel`` and ``task:close-session``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accounts.models import User
from chat.services.outcome import Emit
from kinds.models import Kind
from tasks.models import Subtask, TaskResource
from wegent.hooks import Hook


@dataclass(frozen=True)
class ExecutorTurn:
    """A stored turn of an executor team whose answer (PENDING) must reach its executor."""

    actor: User
    task: TaskResource
    answer: Subtask
    team: Kind
    device_id: str | None


dispatchers: Hook[Callable[[ExecutorTurn], list[Emit] | None]] = Hook(
    "chat.executor_dispatchers",
    "routes an executor team's new answer; the first non-None list of events to send wins",
)
cancellers: Hook[Callable[[Subtask, str | None], list[Emit] | None]] = Hook(
    "chat.executor_cancellers",
    "ends an answer an executor runs (with the text shown so far); None when not its own",
)
session_closers: Hook[Callable[[TaskResource], bool]] = Hook(
    "chat.executor_session_closers", "tells the executor of a task to close its session; True if one did"
)


def dispatch(turn: ExecutorTurn) -> list[Emit]:
    for dispatcher in dispatchers:
        emits = dispatcher(turn)
        if emits is not None:
            return emits
    return []  # nobody routes it: it waits PENDING for the executor manager's poll


def cancel(answer: Subtask, partial_content: str | None) -> list[Emit] | None:
    for canceller in cancellers:
        emits = canceller(answer, partial_content)
        if emits is not None:
            return emits
    return None


def close_session(task: TaskResource) -> bool:
    return any(closer(task) for closer in session_closers)

"""Status values of tasks and subtasks, the transitions allowed between them, and how a task's
status follows from its messages.
"""

from __future__ import annotations

PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
CANCELLING = "CANCELLING"
DELETE = "DELETE"
PENDING_CONFIRMATION = "PENDING_CONFIRMATION"

SUBTASK_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, DELETE, PENDING_CONFIRMATION)
TASK_STATUSES = (*SUBTASK_STATUSES, CANCELLING)
SUBTASK_CHOICES = [(s, s) for s in SUBTASK_STATUSES]

FINAL = frozenset({COMPLETED, FAILED, CANCELLED, DELETE})
# A task may take a new turn only from these (the reference's executor-path rule).
APPENDABLE = frozenset({COMPLETED, FAILED, CANCELLED, PENDING_CONFIRMATION})
# Subtask states in which an answer is still being produced.
ACTIVE = frozenset({PENDING, RUNNING})

_ENDINGS = {COMPLETED, FAILED, CANCELLED}
# A failed or cancelled answer may be retried in place (back to PENDING); DELETE is always
# allowed (task deletion), and nothing leaves DELETE.
SUBTASK_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({RUNNING, PENDING_CONFIRMATION, DELETE, *_ENDINGS}),
    RUNNING: frozenset({RUNNING, PENDING_CONFIRMATION, DELETE, *_ENDINGS}),
    PENDING_CONFIRMATION: frozenset({PENDING, RUNNING, DELETE, *_ENDINGS}),
    COMPLETED: frozenset({COMPLETED, DELETE}),
    FAILED: frozenset({FAILED, PENDING, DELETE}),
    CANCELLED: frozenset({CANCELLED, PENDING, DELETE}),
    DELETE: frozenset({DELETE}),
}

# Task transitions (reference §4.7): from a final state a task never goes back to work except
# through a new turn (``restart_allowed``); from CANCELLING only CANCELLED or FAILED follow.
TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset(TASK_STATUSES),
    RUNNING: frozenset(TASK_STATUSES),
    PENDING_CONFIRMATION: frozenset(TASK_STATUSES),
    CANCELLING: frozenset({CANCELLING, CANCELLED, FAILED, DELETE}),
    COMPLETED: frozenset({COMPLETED, FAILED, CANCELLED, DELETE, PENDING_CONFIRMATION}),
    FAILED: frozenset({COMPLETED, FAILED, CANCELLED, DELETE}),
    CANCELLED: frozenset({COMPLETED, FAILED, CANCELLED, DELETE}),
    DELETE: frozenset({DELETE}),
}


def subtask_may_become(current: str, new: str) -> bool:
    return new in SUBTASK_TRANSITIONS.get(current, frozenset())


def task_may_become(current: str, new: str) -> bool:
    return new in TASK_TRANSITIONS.get(current, frozenset())


def derived_task_status(current: str, last_answer: str | None) -> str:
    """The task status implied by its latest answer (ASSISTANT subtask).

    ``current`` is the task's stored status; ``last_answer`` the status of its newest answer
    (None when there is none). A task being cancelled ends CANCELLED once its answer stops,
    whatever way it stopped; a deleted task stays deleted.
    """
    if current == DELETE or last_answer is None:
        return current
    if current == CANCELLING and last_answer in _ENDINGS:
        return CANCELLED
    if current == CANCELLING:
        return CANCELLING
    return last_answer


# Who wrote a message (Subtask.role).
MESSAGE_ROLES = ("USER", "ASSISTANT")

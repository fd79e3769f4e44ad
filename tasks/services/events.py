"""Hooks for apps above this one: the chat app registers listeners to push task changes to
clients (``task:status``). Listeners run after the change commits, never inside it, and one
listener's failure is logged without undoing or blocking the change or the other listeners.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import transaction

from tasks.models import TaskResource
from wegent.hooks import Hook

task_listeners: Hook[Callable[[TaskResource], None]] = Hook(
    "tasks.task_changed", "called as listener(task) after a task's status, title or messages changed"
)
deleted_listeners: Hook[Callable[[TaskResource], None]] = Hook(
    "tasks.task_deleted", "called as listener(task) after a task was deleted by its owner"
)


def task_changed(task: TaskResource) -> None:
    transaction.on_commit(functools.partial(task_listeners.call_all, task, log_errors=True))


def task_deleted(task: TaskResource) -> None:
    transaction.on_commit(functools.partial(deleted_listeners.call_all, task, log_errors=True))

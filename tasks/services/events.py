"""Hooks for apps above this one: the chat app registers listeners to push task changes to
clients (``task:status``). Listeners run after the change commits, never inside it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.db import transaction

from tasks.models import TaskResource

logger = logging.getLogger(__name__)

# Called as listener(task) after a task's status, title or messages changed.
task_listeners: list[Callable[[TaskResource], None]] = []
# Called as listener(task) after a task was deleted by its owner (devices close sessions).
deleted_listeners: list[Callable[[TaskResource], None]] = []


def _notify(listeners: list[Callable[[TaskResource], None]], task: TaskResource) -> None:
    for listener in list(listeners):
        try:
            listener(task)
        except Exception:  # a listener's failure must not undo or block the change itself
            logger.exception("task listener %s failed for task %s", listener, task.pk)


def task_changed(task: TaskResource) -> None:
    transaction.on_commit(functools.partial(_notify, task_listeners, task))


def task_deleted(task: TaskResource) -> None:
    transaction.on_commit(functools.partial(_notify, deleted_listeners, task))

"""``task:status``: who hears about a task's change, and what they hear."""

from __future__ import annotations

from typing import Any

from chat import protocol
from tasks import selectors
from tasks.models import TaskResource


def status_recipients(task: TaskResource) -> list[int]:
    """Who hears about a task's status: the owner, and the members of a group chat."""
    recipients = [task.owner_id]
    if task.is_group_chat:
        recipients += selectors.approved_member_ids(task.pk)
    return list(dict.fromkeys(recipients))


def status_payload(task: TaskResource) -> dict[str, Any]:
    state = task.state
    return protocol.task_status(
        task_id=task.pk,
        status=task.status,
        progress=state.get("progress"),
        completed_at=state.get("completedAt"),
    )

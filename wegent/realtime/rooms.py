"""The reference's room names (``user:42``, ``task:7``); rooms are kept per namespace by the hub."""

from __future__ import annotations


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def task_room(task_id: int) -> str:
    return f"task:{task_id}"


def device_room(user_id: int, device_id: str) -> str:
    """One device's room in ``/local-executor`` (tasks for it go there)."""
    return f"device:{user_id}:{device_id}"

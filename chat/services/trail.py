"""Audit rows for the ``/chat`` events that change state (``chat:send``, ``chat:cancel``,
``chat:retry``): one INSERT each, in the same worker-thread call as the write itself."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from audit import services as audit
from audit.models import AuditEntry
from chat.services.outcome import Outcome


def record(user: User, event: str, address: str, target: audit.Target, **detail: Any) -> None:
    audit.record(
        via=AuditEntry.SOCKET,
        action=event.replace(":", "."),
        actor=user,
        target=target,
        route=event,
        ip_address=address,
        detail=detail,
    )


def record_send(user: User, address: str, outcome: Outcome) -> Outcome:
    """``chat:send`` stored a message (its ack names the task): recorded; a refusal is not."""
    ack = outcome.ack
    if isinstance(ack, dict) and "task_id" in ack and "error" not in ack:
        record(
            user,
            "chat:send",
            address,
            audit.Target("Task", ack["task_id"]),
            subtask_id=ack.get("subtask_id"),
            message_id=ack.get("message_id"),
        )
    return outcome

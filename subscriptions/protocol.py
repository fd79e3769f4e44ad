"""The one Socket.IO event of this app (reference realtime §"user room" events)."""

from __future__ import annotations

from typing import Any

EXECUTION_UPDATE = "background:execution_update"


def execution_update(execution: Any) -> dict[str, Any]:
    """``background:execution_update`` for the owner's ``user:{id}`` room on ``/chat``."""
    subscription = execution.subscription
    return {
        "execution_id": execution.pk,
        "subscription_id": execution.subscription_id,
        "status": execution.status,
        "is_silent": execution.status == "COMPLETED_SILENT",
        "task_id": execution.task_id or None,
        "prompt": "" if subscription.is_rental else execution.prompt,  # a rental hides its source's
        "result_summary": execution.result_summary or None,
        "error_message": execution.error_message or None,
        "trigger_reason": execution.trigger_reason,
        "created_at": execution.created_at.isoformat() if execution.created_at else None,
        "updated_at": execution.updated_at.isoformat() if execution.updated_at else None,
        "subscription_name": subscription.name,
        "subscription_display_name": subscription.display_name,
        "task_type": subscription.spec.get("taskType"),
    }

"""Reading a conversation over ``/chat``: ``task:join``, ``history:sync`` and ``chat:resume``
(the messages and the text of a running answer a client has not seen yet)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from chat import protocol, stream_state
from chat.services.outcome import ACCESS_DENIED, visible_task
from tasks import selectors, shapes
from tasks.models import Subtask, TaskResource


def _incremental(rows: list[Subtask]) -> list[dict[str, Any]]:
    """The short message shape of ``task:join`` with ``after_message_id``."""
    contexts = shapes.subtasks_in_db(rows)
    items = []
    for row, shown in zip(rows, contexts, strict=True):
        sender = row.sender_user if row.role == Subtask.USER else None
        items.append(
            {
                "id": row.pk,
                "message_id": row.message_id,
                "role": row.role,
                "prompt": row.prompt,
                "result": row.result,
                "status": row.status,
                "progress": row.progress,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "completed_at": row.completed_at,
                "contexts": shown["contexts"],
                "sender": {"user_id": sender.pk, "user_name": sender.user_name, "avatar": None}
                if sender is not None
                else None,
            }
        )
    return items


def streaming_info(task: TaskResource) -> dict[str, Any] | None:
    """``{subtask_id, offset, cached_content}`` of the task's running answer, if any."""
    live = stream_state.streaming(task.pk)
    if live is not None:
        text = stream_state.text(live["subtask_id"]) or ""
        info = {"subtask_id": live["subtask_id"], "offset": len(text), "cached_content": text}
        result = stream_state.result(live["subtask_id"])
        if result is not None:
            # The tool steps and blocks so far (the same ``result`` a tool chunk carries).
            info["result"] = result
        return info
    running = selectors.running_answer(task)
    if running is None:
        return None
    saved = running.result if isinstance(running.result, dict) else {}
    value = saved.get("value")
    text = value if isinstance(value, str) else ""
    info = {"subtask_id": running.pk, "offset": len(text), "cached_content": text}
    if "thinking" in saved or "blocks" in saved:
        keys = ("shell_type", "thinking", "blocks")
        info["result"] = {key: saved[key] for key in keys if key in saved}
    return info


def join_data(actor: User, task_id: int, after_message_id: int | None) -> dict[str, Any]:
    """The ``task:join`` ack, read after the socket entered the room (so nothing falls between)."""
    task = visible_task(actor, task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED)
    rows = selectors.messages_after(selectors.visible_subtasks(task, actor), after_message_id)
    if after_message_id is None:
        subtasks = shapes.detail_subtasks(shapes.latest_messages(rows))
    else:
        subtasks = _incremental(list(rows))
    return {"streaming": streaming_info(task), "subtasks": subtasks}


def can_join(actor: User, task_id: Any) -> bool:
    return visible_task(actor, task_id) is not None


def history_since(actor: User, payload: protocol.HistorySync) -> dict[str, Any]:
    task = visible_task(actor, payload.task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED)
    messages = []
    for row in selectors.messages_after(selectors.visible_subtasks(task, actor), payload.after_message_id):
        value = row.result.get("value") if isinstance(row.result, dict) else None
        messages.append(
            {
                "subtask_id": row.pk,
                "message_id": row.message_id,
                "role": row.role,
                "content": row.prompt if row.role == Subtask.USER else (value or ""),
                "status": row.status,
                "created_at": row.created_at,
            }
        )
    return {"messages": messages}


def resume_text(actor: User, payload: protocol.ChatResume) -> tuple[dict[str, Any], str | None]:
    """The ack of ``chat:resume`` and the text the client missed (None when nothing)."""
    task = visible_task(actor, payload.task_id)
    if task is None:
        return protocol.error(ACCESS_DENIED), None
    text = stream_state.text(payload.subtask_id)
    if text is None or not selectors.is_message_of(task, payload.subtask_id):
        return {"success": True}, None
    return {"success": True}, text[payload.offset :] or None

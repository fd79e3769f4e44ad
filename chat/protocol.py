"""The ``/chat`` namespace's wire shapes: client payloads (validated) and server events
(reference realtime §2.2-§2.4). Every event name and payload field is defined here only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

NAMESPACE = "/chat"

# Server -> client events.
AUTH_ERROR = "auth:error"
CHAT_START = "chat:start"
CHAT_CHUNK = "chat:chunk"
CHAT_DONE = "chat:done"
CHAT_ERROR = "chat:error"
CHAT_CANCELLED = "chat:cancelled"
CHAT_MESSAGE = "chat:message"
CHAT_BOT_COMPLETE = "chat:bot_complete"
TASK_CREATED = "task:created"
TASK_STATUS = "task:status"
# To the task room: a skill asks the user's browser to act (reference realtime §7.1).
SKILL_REQUEST = "skill:request"

MAX_ID = 2**63 - 1
Id = Field(ge=1, le=MAX_ID)


class Payload(BaseModel):
    """Unknown keys are ignored (the web client sends extras such as ``preload_skill_names``)."""

    model_config = ConfigDict(extra="ignore")


class TaskJoin(Payload):
    task_id: int
    after_message_id: int | None = Field(default=None, ge=0, le=MAX_ID)


class TaskLeave(Payload):
    task_id: int


# (knowledge base id, document ids, picked as the notebook's selected documents)
DocumentScope = tuple[int, tuple[int, ...], bool]
MAX_SCOPED_DOCUMENTS = 500


def _id(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


class ContextItem(Payload):
    type: str = Field(max_length=50)
    data: dict[str, Any] = Field(default_factory=dict)


def _context_kb(item: ContextItem) -> int | None:
    key = {"knowledge_base": "knowledge_id", "selected_documents": "knowledge_base_id"}.get(item.type)
    return _id(item.data.get(key)) if key else None


class AdditionalSkill(Payload):
    name: str = Field(max_length=100)
    namespace: str = Field(default="default", max_length=100)
    is_public: bool = False


class ChatSend(Payload):
    task_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    team_id: int = Id
    message: str
    title: str | None = Field(default=None, max_length=256)
    attachment_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    attachment_ids: list[int] | None = Field(default=None, max_length=50)
    enable_deep_thinking: bool = True
    enable_web_search: bool = False
    search_engine: str | None = Field(default=None, max_length=100)
    enable_clarification: bool = False
    force_override_bot_model: str | None = Field(default=None, max_length=100)
    force_override_bot_model_type: Literal["public", "user", "group"] | None = None
    is_group_chat: bool = False
    contexts: list[ContextItem] | None = Field(default=None, max_length=20)
    git_url: str = Field(default="", max_length=1000)
    git_repo: str = Field(default="", max_length=500)
    git_repo_id: int = Field(default=0, ge=0, le=MAX_ID)
    git_domain: str = Field(default="", max_length=255)
    branch_name: str = Field(default="", max_length=255)
    task_type: Literal["chat", "code", "knowledge", "task"] | None = None
    knowledge_base_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    additional_skills: list[AdditionalSkill] | None = Field(default=None, max_length=50)
    device_id: str | None = Field(default=None, max_length=100)

    def knowledge_base_ids(self) -> tuple[int, ...]:
        """Knowledge bases the message picked: ``contexts`` of type ``knowledge_base`` (their
        ``data.knowledge_id``) or ``selected_documents`` (``data.knowledge_base_id``), and the
        notebook's ``knowledge_base_id``."""
        ids: list[int] = []
        for item in self.contexts or []:
            value = _context_kb(item)
            if value is not None:
                ids.append(value)
        if self.knowledge_base_id is not None:
            ids.append(self.knowledge_base_id)
        return tuple(dict.fromkeys(ids))

    def document_scopes(self) -> tuple[DocumentScope, ...]:
        """The documents the message narrowed its knowledge bases to, as (knowledge base id,
        document ids, from the notebook's ``selected_documents``): a ``selected_documents``
        context, or a ``knowledge_base`` context with ``data.document_ids``."""
        scopes: list[DocumentScope] = []
        for item in self.contexts or []:
            kb_id = _context_kb(item)
            raw = item.data.get("document_ids")
            if kb_id is None or not isinstance(raw, list) or not raw:
                continue  # no list, or an empty one: the whole knowledge base
            ids = tuple(dict.fromkeys(i for i in map(_id, raw[:MAX_SCOPED_DOCUMENTS]) if i is not None))
            scopes.append((kb_id, ids, item.type == "selected_documents"))
        return tuple(scopes)

    def all_attachment_ids(self) -> list[int]:
        ids = list(self.attachment_ids or [])
        if self.attachment_id is not None:
            ids.append(self.attachment_id)
        return list(dict.fromkeys(ids))


class ChatCancel(Payload):
    subtask_id: int = Id
    partial_content: str | None = None
    shell_type: str | None = Field(default=None, max_length=50)


class ChatRetry(Payload):
    task_id: int = Id
    subtask_id: int = Id
    force_override_bot_model: str | None = Field(default=None, max_length=100)
    force_override_bot_model_type: Literal["public", "user", "group"] | None = None
    use_model_override: bool = False


class ChatResume(Payload):
    task_id: int = Id
    subtask_id: int = Id
    offset: int = Field(default=0, ge=0)


class HistorySync(Payload):
    task_id: int = Id
    after_message_id: int = Field(ge=0, le=MAX_ID)


# ``skill:response`` acks (reference realtime §2.2), plus this server's refusals.
MISSING_REQUEST_ID = "Missing request_id"
NO_PENDING_REQUEST = "No pending request found"
NOT_YOUR_REQUEST = "This request belongs to another user"
RESPONSE_TOO_LARGE = "Response too large"


class SkillResponse(Payload):
    request_id: str = Field(min_length=1, max_length=200)
    skill_name: str | None = None
    action: str | None = None
    success: bool = False
    result: Any = None
    error: Any = None


def parse(model: type[Payload], data: Any) -> Payload | dict[str, str]:
    """The validated payload, or the reference's error ack."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
        return {"error": f"Invalid payload: {where}: {first.get('msg', 'invalid')}"}


def error(message: str) -> dict[str, str]:
    return {"error": message}


# --- server events --------------------------------------------------------------------------------


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def chat_start(
    *, task_id: int, subtask_id: int, message_id: int, shell_type: str, bot_name: str | None
) -> dict:
    return {
        "task_id": task_id,
        "subtask_id": subtask_id,
        "bot_name": bot_name,
        "shell_type": shell_type,
        "message_id": message_id,
    }


def chat_chunk(
    *,
    task_id: int,
    subtask_id: int,
    content: str,
    offset: int,
    block_id: str | None,
    block_offset: int | None = None,
    result: dict[str, Any] | None = None,
) -> dict:
    """A text delta (``block_id``: the text block it extends, ``block_offset``: its length in
    that block before the delta), or a tool/thinking update (``content`` "", ``result`` the full
    thinking steps and blocks so far; reference realtime §2.4)."""
    payload: dict[str, Any] = {
        "subtask_id": subtask_id,
        "content": content,
        "offset": offset,
        "task_id": task_id,
    }
    if block_id is not None:
        payload["block_id"] = block_id
        payload["block_offset"] = offset if block_offset is None else block_offset
    if result is not None:
        payload["result"] = result
    return payload


# --- thinking steps and blocks (chunk/done ``result``; reference realtime §2.3-§2.4) ----------------

TOOL_USE, TOOL_RESULT = "tool_use", "tool_result"
STARTED, COMPLETED, FAILED = "started", "completed", "failed"


def thinking_step(
    *,
    title: str,
    run_id: str,
    kind: str,
    tool_name: str,
    status: str,
    input: Any = None,
    output: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One entry of ``result.thinking``: a tool starting (``tool_use``) or ending
    (``tool_result``, status ``completed``/``failed``)."""
    details: dict[str, Any] = {"type": kind, "tool_name": tool_name, "name": tool_name, "status": status}
    if input is not None:
        details["input"] = input
    if output is not None:
        details["output"] = output
    if error is not None:
        details["error"] = error
    return {"title": title, "next_action": "continue", "run_id": run_id, "details": details}


def text_block(block_id: str, content: str, status: str, timestamp: float) -> dict[str, Any]:
    return {"id": block_id, "type": "text", "content": content, "status": status, "timestamp": timestamp}


def thinking_block(block_id: str, content: str, status: str, timestamp: float) -> dict[str, Any]:
    return {"id": block_id, "type": "thinking", "content": content, "status": status, "timestamp": timestamp}


def tool_block(
    block_id: str,
    *,
    tool_use_id: str,
    tool_name: str,
    tool_input: Any,
    status: str,
    timestamp: float,
    tool_output: str | None = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "id": block_id,
        "type": "tool",
        "tool_use_id": tool_use_id,
        "tool_name": tool_name,
        "tool_input": tool_input,
        "status": status,
        "timestamp": timestamp,
    }
    if tool_output is not None:
        block["tool_output"] = tool_output
    return block


def reasoning_view(shell_type: str, text: str) -> dict[str, Any]:
    """The ``result`` of a reasoning chunk: the delta to append to the chunk's thinking block."""
    return {"shell_type": shell_type, "reasoning_chunk": text}


def tool_result_view(shell_type: str, thinking: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> dict:
    """The ``result`` of a tool start/end chunk: the full lists each time."""
    return {"shell_type": shell_type, "thinking": thinking, "blocks": blocks}


def chat_done(*, task_id: int, subtask_id: int, offset: int, result: dict[str, Any], message_id: int) -> dict:
    return {
        "task_id": task_id,
        "subtask_id": subtask_id,
        "offset": offset,
        "result": result,
        "message_id": message_id,
    }


def chat_error(*, task_id: int, subtask_id: int, error_text: str, message_id: int | None) -> dict:
    return {"subtask_id": subtask_id, "error": error_text, "task_id": task_id, "message_id": message_id}


def chat_cancelled(*, task_id: int, subtask_id: int) -> dict:
    return {"task_id": task_id, "subtask_id": subtask_id}


def bot_complete(*, task_id: int, subtask_id: int, content: str, result: dict[str, Any]) -> dict:
    return {
        "task_id": task_id,
        "subtask_id": subtask_id,
        "content": content,
        "result": result,
        "created_at": now_iso(),
    }


def task_created(*, task_id: int, title: str, team_id: int, team_name: str, is_group_chat: bool) -> dict:
    return {
        "task_id": task_id,
        "title": title,
        "team_id": team_id,
        "team_name": team_name,
        "created_at": now_iso(),
        "is_group_chat": is_group_chat,
    }


def task_status(*, task_id: int, status: str, progress: int | None, completed_at: str | None) -> dict:
    payload: dict[str, Any] = {"task_id": task_id, "status": status, "progress": progress}
    if status in ("COMPLETED", "FAILED", "CANCELLED"):
        payload["completed_at"] = completed_at or now_iso()
    return payload


def chat_message(
    *,
    task_id: int,
    subtask_id: int,
    message_id: int,
    content: str,
    sender_id: int,
    sender_name: str,
    created_at: str,
    contexts: list[dict[str, Any]],
) -> dict:
    return {
        "subtask_id": subtask_id,
        "task_id": task_id,
        "message_id": message_id,
        "role": "user",
        "content": content,
        "sender": {"user_id": sender_id, "user_name": sender_name},
        "created_at": created_at,
        "attachment": None,
        "attachments": [],
        "contexts": contexts,
    }


def auth_error() -> dict:
    return {"error": "Token expired", "code": "TOKEN_EXPIRED"}


def skill_request(*, request_id: str, skill_name: str, action: str, data: Any) -> dict:
    return {"request_id": request_id, "skill_name": skill_name, "action": action, "data": data}

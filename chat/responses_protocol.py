"""The wire shapes of ``/api/v1/responses`` (reference realtime §6, rest §6.16): the request
body, the ``ResponseObject``, the stream events and the id formats. Defined here only.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tasks import statuses
from wegent.errors import BadRequest, InvalidInput

MAX_ID = 2**63 - 1
RESPONSE_PREFIX = "resp_"
MESSAGE_PREFIX = "msg_"
_RESPONSE_ID = re.compile(r"^resp_([0-9]{1,19})$")

# Stream event types (reference realtime §6.3), in the order a stream sends them.
CREATED = "response.created"
IN_PROGRESS = "response.in_progress"
ITEM_ADDED = "response.output_item.added"
PART_ADDED = "response.content_part.added"
TEXT_DELTA = "response.output_text.delta"
TEXT_DONE = "response.output_text.done"
PART_DONE = "response.content_part.done"
ITEM_DONE = "response.output_item.done"
COMPLETED = "response.completed"
FAILED = "response.failed"
# A cancelled answer ends its stream with this one (OpenAI has no "cancelled" event; the
# response inside says ``status: "cancelled"``).
INCOMPLETE = "response.incomplete"
TERMINAL = frozenset({COMPLETED, FAILED, INCOMPLETE})

# Task status -> response status, subtask status -> message status (reference §6.2).
_RESPONSE_STATUS = {
    statuses.PENDING: "queued",
    statuses.RUNNING: "in_progress",
    statuses.COMPLETED: "completed",
    statuses.FAILED: "failed",
    statuses.CANCELLED: "cancelled",
    statuses.CANCELLING: "in_progress",
    statuses.DELETE: "failed",
}
_MESSAGE_STATUS = {
    statuses.PENDING: "in_progress",
    statuses.RUNNING: "in_progress",
    statuses.COMPLETED: "completed",
}


def response_status(task_status: str) -> str:
    return _RESPONSE_STATUS.get(task_status, "incomplete")


def message_status(subtask_status: str) -> str:
    return _MESSAGE_STATUS.get(subtask_status, "incomplete")


def response_id(task_id: int) -> str:
    return f"{RESPONSE_PREFIX}{task_id}"


def message_id(subtask_id: int) -> str:
    return f"{MESSAGE_PREFIX}{subtask_id}"


def task_id_of(value: str) -> int | None:
    """The task id in ``resp_<task_id>``; None when malformed or out of range."""
    match = _RESPONSE_ID.match(value)
    if match is None:
        return None
    task_id = int(match.group(1))
    return task_id if 0 < task_id <= MAX_ID else None


# --- the request ------------------------------------------------------------------------------


class _Body(BaseModel):
    # OpenAI SDKs send fields we do not use (instructions, temperature, store, metadata ...).
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Body):
    type: Literal["input_text", "output_text", "text"] = "input_text"
    text: str


class InputMessage(_Body):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class Workspace(_Body):
    git_url: str = Field(default="", max_length=1000)
    branch: str = Field(default="", max_length=200)
    git_repo: str = Field(default="", max_length=500)


class Tool(_Body):
    type: str = Field(max_length=50)
    # ``[{name: {url, type, headers}}]`` as the reference takes it (a single mapping works too).
    mcp_servers: list[dict[str, Any]] | dict[str, Any] | None = None
    preload_skills: list[str] | None = Field(default=None, max_length=50)
    workspace: Workspace | None = None


class ResponseCreate(_Body):
    model: str = Field(max_length=500)
    input: str | list[InputMessage]
    previous_response_id: str | None = Field(default=None, max_length=100)
    stream: bool = False
    background: bool = False
    tools: list[Tool] | None = Field(default=None, max_length=20)

    @field_validator("input")
    @classmethod
    def _bounded(cls, value: str | list[InputMessage]) -> str | list[InputMessage]:
        if isinstance(value, list) and len(value) > 1000:
            raise ValueError("at most 1000 messages")
        return value

    def prompt(self) -> str:
        """The prompt: the input string, or the last user message (reference §6.2)."""
        if isinstance(self.input, str):
            prompt = self.input
        else:
            users = [m for m in self.input if m.role == "user"]
            if not users:
                raise BadRequest("No user message found in input")
            prompt = users[-1].text()
        if not prompt.strip():
            raise BadRequest("Input cannot be empty")
        return prompt

    def tools_of(self, kind: str) -> list[Tool]:
        return [tool for tool in self.tools or [] if tool.type == kind]


def parse_create(data: Any) -> ResponseCreate:
    """The validated body; 422 with the reference's field errors otherwise."""
    if not isinstance(data, dict):
        raise InvalidInput([{"loc": ["body"], "msg": "Expected a JSON object", "type": "dict_type"}])
    try:
        return ResponseCreate.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "loc": ["body", *error.get("loc", ())],
                "msg": error.get("msg", "invalid"),
                "type": error.get("type"),
            }
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidInput(errors) from None


class ModelRef(BaseModel):
    namespace: str
    team: str
    model_id: str | None = None

    def __str__(self) -> str:
        base = f"{self.namespace}#{self.team}"
        return f"{base}#{self.model_id}" if self.model_id else base


def parse_model(value: str) -> ModelRef:
    """``namespace#team_name[#model_id]``; 400 when malformed (reference §6.2)."""
    parts = value.split("#")
    if len(parts) not in (2, 3) or not all(part.strip() for part in parts):
        raise BadRequest(
            f"Invalid model format: '{value[:200]}'. Expected 'namespace#team_name' or "
            "'namespace#team_name#model_id'"
        )
    parts = [part.strip() for part in parts]
    return ModelRef(namespace=parts[0], team=parts[1], model_id=parts[2] if len(parts) == 3 else None)


# --- the response object and the stream events ---------------------------------------------------


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def output_message(subtask_id: int, status: str, text: str | None) -> dict[str, Any]:
    """An assistant output item; ``text`` None: no content part yet."""
    return {
        "type": "message",
        "id": message_id(subtask_id),
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [output_text(text)],
    }


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    *,
    task_id: int,
    created_at: int,
    status: str,
    model: str,
    output: list[dict[str, Any]],
    previous_response_id: str | None,
    error: dict[str, str] | None = None,
    usage: dict[str, Any] | None = None,
    background: bool = False,
) -> dict[str, Any]:
    return {
        "id": response_id(task_id),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": background,
        "error": error,
        "incomplete_details": None,
        "model": model,
        "output": output,
        "previous_response_id": previous_response_id,
        "usage": usage,
    }


def error_object(message: str, code: str = "stream_error") -> dict[str, str]:
    return {"code": code, "message": message}


def deleted(task_id: int) -> dict[str, Any]:
    return {"id": response_id(task_id), "object": "response", "deleted": True}


def event(kind: str, sequence_number: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "sequence_number": sequence_number, **fields}


def text_fields(subtask_id: int) -> dict[str, Any]:
    """What every text event of the one output item names."""
    return {"item_id": message_id(subtask_id), "output_index": 0, "content_index": 0}

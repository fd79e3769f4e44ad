"""The ``/local-executor`` namespace's wire shapes (reference realtime §4.2-§4.6): what a device
sends (validated) and what the server sends to devices and, about devices, to browsers.
Every device event name and payload field is defined here only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kinds.specs.base import NAME_PATTERN, NAME_RULE

NAMESPACE = "/local-executor"

# Device -> server.
DEVICE_REGISTER = "device:register"
DEVICE_HEARTBEAT = "device:heartbeat"
DEVICE_STATUS = "device:status"
TASK_PROGRESS = "task:progress"
TASK_COMPLETE = "task:complete"
TASK_RESULT = "task:result"

# Server -> device (room ``device:{uid}:{device_id}`` in this namespace).
TASK_EXECUTE = "task:execute"
TASK_CANCEL = "task:cancel"
TASK_CLOSE_SESSION = "task:close-session"

# Server -> browser (room ``user:{uid}`` in ``/chat``).
DEVICE_ONLINE = "device:online"
DEVICE_OFFLINE = "device:offline"
DEVICE_SLOT_UPDATE = "device:slot_update"

MAX_ID = 2**63 - 1
MAX_TEXT = 100
DEVICE_STATUSES = ("online", "offline", "busy")

# Acks (reference texts).
NOT_REGISTERED = "Not authenticated or not registered"
DEVICE_MISMATCH = "Device ID mismatch"
MISSING_SUBTASK = "Missing subtask_id"
SUBTASK_NOT_FOUND = "Subtask not found"
NOT_THIS_DEVICE = "Subtask does not belong to this device"
# This server's own refusal: a report for an answer that has already ended changes nothing.
SUBTASK_FINISHED = "Subtask is not running"

# The refusals of a connect (reference realtime §1.3).
SHUTTING_DOWN = "Server is shutting down"
MISSING_TOKEN = "Missing authentication token"
INVALID_API_KEY = "Invalid or expired API key"
INVALID_TOKEN = "Invalid or expired token"


class Payload(BaseModel):
    """Unknown keys are ignored, as the reference's pydantic models do."""

    model_config = ConfigDict(extra="ignore")


def _device_id(value: str) -> str:
    # A device is a Kind row named by its id: the id must be a valid Kind name.
    if not NAME_PATTERN.match(value):
        raise ValueError(f"device_id must be {NAME_RULE}")
    return value


class DeviceRegister(Payload):
    device_id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str = Field(min_length=1, max_length=MAX_TEXT)
    device_type: Literal["local", "cloud"] = "local"
    capabilities: list[str] | None = Field(default=None, max_length=50)
    executor_version: str | None = Field(default=None, max_length=50)

    _valid_id = field_validator("device_id")(_device_id)


class DeviceHeartbeat(Payload):
    device_id: str = Field(min_length=1, max_length=MAX_TEXT)
    running_task_ids: list[int] = Field(default_factory=list, max_length=1000)
    executor_version: str | None = Field(default=None, max_length=50)


class DeviceStatusReport(Payload):
    device_id: str = Field(min_length=1, max_length=MAX_TEXT)
    status: Literal["online", "offline", "busy"]


def unstorable(value: Any) -> str | None:
    """Why a JSON value cannot be stored (databases refuse NUL characters and unpaired
    surrogates in text), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text contains NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text contains unpaired surrogates"
    elif isinstance(value, dict):
        return next((why for item in value.items() for why in map(unstorable, item) if why), None)
    elif isinstance(value, list):
        return next((why for why in map(unstorable, value) if why), None)
    return None


class TaskReport(Payload):
    """``task:progress``, ``task:complete`` and ``task:result`` share their fields."""

    subtask_id: int = Field(ge=1, le=MAX_ID)
    task_id: int | None = None
    task_title: str | None = None
    subtask_title: str | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    status: str | None = Field(default=None, max_length=50)
    message: str | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None

    @model_validator(mode="after")
    def _storable(self) -> TaskReport:
        why = unstorable([self.task_title, self.subtask_title, self.message, self.result, self.error_message])
        if why:
            raise ValueError(why)
        return self


def parse(model: type[Payload], data: Any) -> Payload | dict[str, str]:
    """The validated payload, or the reference's ``Invalid payload: ...`` ack."""
    if model is TaskReport and (not isinstance(data, dict) or data.get("subtask_id") in (None, "", 0)):
        return error(MISSING_SUBTASK)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
        return {"error": f"Invalid payload: {where}: {first.get('msg', 'invalid')}"}


def error(message: str) -> dict[str, str]:
    return {"error": message}


# --- server events ------------------------------------------------------------------------------


def device_online(*, device_id: str, name: str) -> dict[str, Any]:
    return {"device_id": device_id, "name": name, "status": "online"}


def device_offline(*, device_id: str) -> dict[str, Any]:
    return {"device_id": device_id}


def device_status(*, device_id: str, status: str) -> dict[str, Any]:
    return {"device_id": device_id, "status": status}


def slot_update(
    *, device_id: str, slot_used: int, slot_max: int, running_tasks: list[dict]
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "slot_used": slot_used,
        "slot_max": slot_max,
        "running_tasks": running_tasks,
    }


def task_cancel(*, task_id: int, subtask_id: int) -> dict[str, Any]:
    return {"subtask_id": subtask_id, "task_id": task_id}


def task_close_session(*, task_id: int) -> dict[str, Any]:
    return {"task_id": task_id}


def executor_name(device_id: str) -> str:
    return f"device-{device_id}"


def executor_namespace(user_id: int) -> str:
    return f"user-{user_id}"

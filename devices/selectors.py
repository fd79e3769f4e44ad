"""Reads of devices. The one gate: a user sees only their own devices (``for_user``); nobody
else's device id resolves for them, whatever they send.

A device is a ``Device`` Kind row of its owner in ``default``, named by its device id (reference
realtime §4.1); whether it is online is only in the cache (``devices.presence``); what it runs
are the RUNNING answers whose executor fields name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from devices import presence, protocol
from kinds.models import DEFAULT_NAMESPACE, Kind
from tasks import statuses
from tasks.models import Subtask

DEVICE = "Device"


def for_user(actor: User) -> QuerySet[Kind]:
    """The actor's active devices, oldest first."""
    return Kind.objects.filter(
        kind=DEVICE, namespace=DEFAULT_NAMESPACE, owner=actor, is_active=True
    ).order_by("id")


def own_device(actor: User, device_id: str) -> Kind | None:
    if not isinstance(device_id, str) or not 0 < len(device_id) <= protocol.MAX_TEXT:
        return None
    return for_user(actor).filter(name=device_id).first()


def running_answers(user_id: int, device_ids: list[str] | None = None) -> QuerySet[Subtask]:
    """RUNNING answers given to the user's devices (all of them, or those of ``device_ids``)."""
    rows = Subtask.objects.filter(
        role=Subtask.ASSISTANT,
        status=statuses.RUNNING,
        executor_namespace=protocol.executor_namespace(user_id),
        executor_name__startswith="device-",
    )
    if device_ids is not None:
        rows = rows.filter(executor_name__in=[protocol.executor_name(d) for d in device_ids])
    return rows.select_related("task").order_by("id")


def running_by_device(user_id: int, device_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``running_tasks`` entries of each device (reference rest §6.15), by device id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in running_answers(user_id, device_ids):
        device_id = row.executor_name.removeprefix("device-")
        found.setdefault(device_id, []).append(
            {
                "task_id": row.task_id,
                "subtask_id": row.pk,
                "title": row.task.title or row.title,
                "status": row.status,
                "created_at": row.created_at.isoformat(),
            }
        )
    return found


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = []
    for part in text.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def update_available(version: str | None) -> bool:
    current, latest = _version(version), _version(settings.EXECUTOR_LATEST_VERSION)
    return current is not None and latest is not None and current < latest


@dataclass(frozen=True)
class DeviceInfo:
    row: Kind
    online: dict[str, Any] | None
    running: list[dict[str, Any]]

    @property
    def device_id(self) -> str:
        return self.row.name

    @property
    def status(self) -> str:
        return _shown_status(self.online)


def _shown_status(online: dict[str, Any] | None) -> str:
    if online is None:
        return "offline"
    status = online.get("status")
    return status if status in protocol.DEVICE_STATUSES else "online"


def live_documents(reader_id: int, kind: str, documents: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Device documents as the Kind API shows them (``kinds.live_status``): ``status.online``,
    ``deviceStatus`` and ``lastHeartbeat`` from the reader's online entries (one cache round
    trip), never what a stored document says. None for other kinds."""
    if kind != DEVICE:
        return None
    names = [str((document.get("metadata") or {}).get("name") or "") for document in documents]
    online = presence.get_many(reader_id, [name for name in names if name])
    shown = []
    for document, name in zip(documents, names, strict=True):
        entry = online.get(name)
        status = dict(document.get("status") or {})
        status.update(online=entry is not None, deviceStatus=_shown_status(entry))
        if entry is not None:
            status["lastHeartbeat"] = entry.get("last_heartbeat")
        shown.append({**document, "status": status})
    return shown


def device_infos(actor: User, *, online_only: bool = False) -> list[DeviceInfo]:
    """The actor's devices with their online state and running answers (two reads and one
    cache round trip for all of them)."""
    rows = list(for_user(actor))
    online = presence.get_many(actor.pk, [row.name for row in rows])
    if online_only:
        rows = [row for row in rows if row.name in online]
    running = running_by_device(actor.pk, [row.name for row in rows]) if rows else {}
    return [DeviceInfo(row, online.get(row.name), running.get(row.name, [])) for row in rows]


def slot_state(user_id: int, device_id: str) -> dict[str, Any]:
    """``device:slot_update`` of one device."""
    running = running_by_device(user_id, [device_id]).get(device_id, [])
    return protocol.slot_update(
        device_id=device_id,
        slot_used=len(running),
        slot_max=settings.DEVICE_SLOT_MAX,
        running_tasks=running,
    )


def device_answer(subtask_id: int) -> Subtask | None:
    """An answer and its task, whoever's (callers check it is theirs)."""
    if not 0 < subtask_id <= protocol.MAX_ID:
        return None
    return Subtask.objects.select_related("task").filter(pk=subtask_id).first()


def latest_device_answer(task_id: int) -> Subtask | None:
    """The newest answer of the task that was given to a device (``task:close-session``)."""
    return (
        Subtask.objects.filter(task_id=task_id, executor_name__startswith="device-")
        .order_by("-message_id")
        .first()
    )


def lapsed_answers() -> list[Subtask]:
    """RUNNING device answers whose device's online entry is gone (heartbeat lapsed)."""
    rows = list(
        Subtask.objects.filter(
            role=Subtask.ASSISTANT, status=statuses.RUNNING, executor_name__startswith="device-"
        ).order_by("id")
    )
    lapsed = []
    for row in rows:
        owner = row.executor_namespace.removeprefix("user-")
        if not owner.isdigit():
            continue
        if presence.get(int(owner), row.executor_name.removeprefix("device-")) is None:
            lapsed.append(row)
    return lapsed

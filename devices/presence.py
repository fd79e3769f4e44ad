"""Whether a device is online: an entry per device in the cache (Redis with ``REDIS_URL``, so
every worker sees it) that lives ``DEVICE_ONLINE_TTL_SECONDS`` (90 s) past the last register,
heartbeat or status report (reference realtime §1.7, §4.3). Nothing else stores online state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache


def _key(user_id: int, device_id: str) -> str:
    return f"device:online:{user_id}:{device_id}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def mark_online(
    user_id: int,
    device_id: str,
    *,
    socket_id: str,
    name: str,
    executor_version: str | None,
    status: str = "online",
    running_task_ids: list[int] | None = None,
) -> dict[str, Any]:
    entry = {
        "socket_id": socket_id,
        "name": name,
        "status": status,
        "last_heartbeat": now_iso(),
        "executor_version": executor_version,
        "running_task_ids": running_task_ids or [],
    }
    cache.set(_key(user_id, device_id), entry, settings.DEVICE_ONLINE_TTL_SECONDS)
    return entry


def refresh(user_id: int, device_id: str, socket_id: str, **changes: Any) -> dict[str, Any] | None:
    """Renews the entry of the device on ``socket_id`` with ``changes`` (None values keep the
    old ones); None when the entry lapsed or belongs to another connection of the device."""
    entry = get(user_id, device_id)
    if entry is None or entry.get("socket_id") != socket_id:
        return None
    entry.update({key: value for key, value in changes.items() if value is not None})
    entry["last_heartbeat"] = now_iso()
    cache.set(_key(user_id, device_id), entry, settings.DEVICE_ONLINE_TTL_SECONDS)
    return entry


def get(user_id: int, device_id: str) -> dict[str, Any] | None:
    entry = cache.get(_key(user_id, device_id))
    return entry if isinstance(entry, dict) else None


def get_many(user_id: int, device_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(device_ids)
    found = cache.get_many([_key(user_id, device_id) for device_id in ids])
    entries = {}
    for device_id in ids:
        entry = found.get(_key(user_id, device_id))
        if isinstance(entry, dict):
            entries[device_id] = entry
    return entries


def release(user_id: int, device_id: str, socket_id: str) -> bool:
    """A connection of the device closed: drops the entry unless another connection of the
    device holds it (it reconnected first); True when the device is offline now."""
    entry = get(user_id, device_id)
    if entry is not None and entry.get("socket_id") != socket_id:
        return False
    cache.delete(_key(user_id, device_id))
    return True


def mark_offline(user_id: int, device_id: str, socket_id: str) -> bool:
    """Drops the entry if it is still this connection's (a device that reconnected on another
    connection stays online); True when it was dropped."""
    entry = get(user_id, device_id)
    if entry is None or entry.get("socket_id") != socket_id:
        return False
    cache.delete(_key(user_id, device_id))
    return True

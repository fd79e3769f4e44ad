"""Socket.IO rooms as Channels groups.

Rooms keep the reference's names (``user:42``, ``task:7``, ``device:42:abc``) on the wire and in
code; Channels group names allow only ASCII letters, digits, ``-``, ``_`` and ``.`` (under 100
characters), so one function maps a (namespace, room) pair to a group name.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_GROUP_NAME = 99


def group_name(namespace: str, room: str) -> str:
    """The Channels group of ``room`` in ``namespace`` (rooms are per namespace, as in Socket.IO)."""
    ns = namespace.strip("/") or "root"
    name = f"sio.{_UNSAFE.sub('-', ns)}.{_UNSAFE.sub('-', room.replace(':', '.'))}"
    if len(name) <= MAX_GROUP_NAME:
        return name
    # Long room names (e.g. device ids) keep a readable prefix and a digest for uniqueness.
    digest = hashlib.sha256(f"{namespace}|{room}".encode()).hexdigest()[:16]
    return f"{name[: MAX_GROUP_NAME - 17]}.{digest}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def task_room(task_id: int) -> str:
    return f"task:{task_id}"

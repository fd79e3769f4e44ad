"""Rooms and delivery: each process keeps its sockets' room memberships and delivers events to
them itself; with Redis, one pub/sub subscription per process carries events between processes.

Why not a channel-layer channel per socket: channels_redis fetches every socket's messages with
one blocking pop per message per process (one Redis round trip per chunk per socket, all in a
row), and every socket kept a receive task and a queue. Here an event is encoded once, crosses
Redis once per process, and is written to the local sockets of its room directly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from django.conf import settings

from wegent.realtime.pubsub import listen_forever
from wegent.realtime.redis_batch import batcher

logger = logging.getLogger(__name__)

CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}socketio"
PROCESS_ID = uuid.uuid4().hex
_OWN_ORIGIN = PROCESS_ID.encode()
# Not a frame: delivered to a room, it ends its members' connections to the namespace
# (``close_room``), on every process, as events travel.
CLOSE = "\x00close"


def _message(
    origin: str, namespace: str, frame: str, room: str | None, to: str | None, skip: str | None
) -> bytes:
    """``<origin process>|<json>``: a process skips its own events without parsing them."""
    body = orjson.dumps({"n": namespace, "f": frame, "r": room, "t": to, "s": skip})
    return origin.encode() + b"|" + body


class Member(Protocol):
    """A connection as the hub sees it (the transport's consumer)."""

    member_id: str

    def connected_to(self, namespace: str) -> bool: ...
    async def send_frame(self, frame: str) -> None: ...

    async def close_namespace(self, namespace: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        # (namespace, room) -> members in this process.
        self._rooms: dict[tuple[str, str], set[Member]] = {}
        self._members: dict[str, Member] = {}
        # member id -> the (namespace, room) keys it joined (so leaving costs what it joined).
        # A list: a connection is in a few rooms, and an empty set alone costs 216 bytes.
        self._joined: dict[str, list[tuple[str, str]]] = {}
        self._listener: asyncio.Task[None] | None = None

    # --- membership ---------------------------------------------------------------------------

    def register(self, member: Member) -> None:
        self._members[member.member_id] = member
        self._ensure_listener()

    def unregister(self, member: Member) -> None:
        self._members.pop(member.member_id, None)
        for key in list(self._joined.get(member.member_id, ())):
            self.leave(member, *key)
        self._joined.pop(member.member_id, None)

    def join(self, member: Member, namespace: str, room: str) -> None:
        key = (namespace, room)
        self._rooms.setdefault(key, set()).add(member)
        joined = self._joined.setdefault(member.member_id, [])
        if key not in joined:
            joined.append(key)

    def leave(self, member: Member, namespace: str, room: str) -> None:
        key = (namespace, room)
        members = self._rooms.get(key)
        if members is not None:
            members.discard(member)
            if not members:
                del self._rooms[key]
        joined = self._joined.get(member.member_id)
        if joined is not None and key in joined:
            joined.remove(key)

    def leave_namespace(self, member: Member, namespace: str) -> None:
        for key in [key for key in self._joined.get(member.member_id, ()) if key[0] == namespace]:
            self.leave(member, *key)

    # --- delivery -----------------------------------------------------------------------------------

    async def deliver(
        self, namespace: str, frame: str, *, room: str | None, to: str | None, skip: str | None
    ) -> None:
        """Writes ``frame`` to this process's matching sockets."""
        if to is not None:
            targets: Iterable[Member] = [m for m in (self._members.get(to),) if m is not None]
        else:
            targets = list(self._rooms.get((namespace, room or ""), ()))
        for member in targets:
            if member.member_id == skip or not member.connected_to(namespace):
                continue
            try:
                if frame == CLOSE:
                    await member.close_namespace(namespace)
                else:
                    await member.send_frame(frame)
            except (OSError, RuntimeError):
                pass  # that socket is closing; its disconnect cleans up

    async def publish(
        self, namespace: str, frame: str, *, room: str | None, to: str | None, skip: str | None
    ) -> None:
        """Delivers here, then (with Redis) to every other process."""
        await self.deliver(namespace, frame, room=room, to=to, skip=skip)
        if not settings.REDIS_URL or (to is not None and to in self._members):
            return
        # Not awaited: batched with the other streams' commands, after anything issued before
        # it (a chunk's APPEND to the live text goes first); a failure is logged.
        batcher(settings.REDIS_URL).send(
            "PUBLISH", CHANNEL, _message(PROCESS_ID, namespace, frame, room, to, skip)
        )

    # --- the other processes' events -------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if not settings.REDIS_URL:
            return
        listener = self._listener
        loop = asyncio.get_running_loop()
        if listener is None or listener.done() or listener.get_loop() is not loop:
            self._listener = loop.create_task(
                listen_forever(settings.REDIS_URL, CHANNEL, self._on_message, what="socket.io hub listener")
            )

    async def _on_message(self, raw: bytes) -> None:
        origin, _, body = raw.partition(b"|")
        if origin == _OWN_ORIGIN:
            return  # delivered here already (every process hears its own events back)
        try:
            data: dict[str, Any] = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        await self.deliver(data["n"], data["f"], room=data.get("r"), to=data.get("t"), skip=data.get("s"))


hub = Hub()


def publish_from_sync(
    namespace: str, frame: str, *, room: str | None, to: str | None, skip: str | None
) -> None:
    """For a process without a server loop (Celery, a command): straight to Redis, if any."""
    if not settings.REDIS_URL:
        return
    _sync_client(settings.REDIS_URL).publish(CHANNEL, _message("", namespace, frame, room, to, skip))


_sync_clients: dict[str, Any] = {}


def _sync_client(url: str) -> Any:
    """One client (and connection pool) per URL for the process: building one per event read
    redis-py's package metadata and opened a connection every time (~2 ms, profiled). Its pool
    is thread-safe and reconnects after a fork (Celery's prefork workers)."""
    client = _sync_clients.get(url)
    if client is None:
        import redis

        client = _sync_clients[url] = redis.Redis.from_url(url)
    return client

"""The live text of running answers, readable from every worker.

The runner appends each delta before it publishes it, so a reader joining at any moment gets
exactly the text so far: chunks it receives afterwards start at or beyond the returned offset.

With ``REDIS_URL`` the text lives in Redis (``APPEND``, so a long answer costs O(delta) per
chunk, not O(text); the appends of all streams go out in batches, see redis_batch); in the
embedded mode there is one process, so a dictionary is enough.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
import redis
from django.conf import settings

from wegent.realtime.redis_batch import batcher

TEXT_TTL_SECONDS = 3600
PREFIX = "wegent:chat"


def _text_key(subtask_id: int) -> str:
    return f"{PREFIX}:streaming:{subtask_id}"


def _task_key(task_id: int) -> str:
    return f"{PREFIX}:task_streaming:{task_id}"


class _LocalStore:
    """One process: text and stream markers in dictionaries (threads read them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: dict[int, list[str]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}

    def start(self, task_id: int, subtask_id: int, meta: dict[str, Any]) -> None:
        with self._lock:
            self._text[subtask_id] = []
            self._tasks[task_id] = {**meta, "subtask_id": subtask_id}

    def append(self, subtask_id: int, text: str) -> None:
        with self._lock:
            parts = self._text.get(subtask_id)
            if parts is not None:
                parts.append(text)

    def text(self, subtask_id: int) -> str | None:
        with self._lock:
            parts = self._text.get(subtask_id)
            if parts is None:
                return None
            joined = "".join(parts)
            self._text[subtask_id] = [joined]  # keep later reads cheap
            return joined

    def streaming(self, task_id: int) -> dict[str, Any] | None:
        with self._lock:
            meta = self._tasks.get(task_id)
            return dict(meta) if meta is not None else None

    def finish(self, task_id: int, subtask_id: int) -> None:
        with self._lock:
            self._text.pop(subtask_id, None)
            meta = self._tasks.get(task_id)
            if meta is not None and meta.get("subtask_id") == subtask_id:
                del self._tasks[task_id]


class _RedisStore:
    """Several processes: the same operations on Redis; async for the runner, sync for readers."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._sync = redis.Redis.from_url(url)

    async def start(self, task_id: int, subtask_id: int, meta: dict[str, Any]) -> None:
        # Through the shared batcher, like the appends: 100 streams starting at once otherwise
        # opened 100 pool connections (measured: a quarter of a second of CPU).
        value = orjson.dumps({**meta, "subtask_id": subtask_id})
        commands = batcher(self._url)
        await asyncio.gather(
            commands.call("SET", _text_key(subtask_id), b"", "EX", TEXT_TTL_SECONDS),
            commands.call("SET", _task_key(task_id), value, "EX", TEXT_TTL_SECONDS),
        )

    async def append(self, subtask_id: int, text: str) -> None:
        # Awaited: a reader must find a chunk's text before any socket can have received it.
        # Batched with the other streams' appends (and the hub's publishes) in one pipeline.
        await batcher(self._url).call("APPEND", _text_key(subtask_id), text.encode())

    def text(self, subtask_id: int) -> str | None:
        raw = self._sync.get(_text_key(subtask_id))
        return raw.decode() if raw is not None else None

    def streaming(self, task_id: int) -> dict[str, Any] | None:
        raw = self._sync.get(_task_key(task_id))
        return orjson.loads(raw) if raw is not None else None

    async def finish(self, task_id: int, subtask_id: int) -> None:
        commands = batcher(self._url)
        current = await commands.call("GET", _task_key(task_id))
        keys = [_text_key(subtask_id)]
        if current is not None and orjson.loads(current).get("subtask_id") == subtask_id:
            keys.append(_task_key(task_id))
        await commands.call("DEL", *keys)


_local = _LocalStore()
_redis: _RedisStore | None = None


def _store() -> _LocalStore | _RedisStore:
    global _redis
    if not settings.REDIS_URL:
        return _local
    if _redis is None or _redis._url != settings.REDIS_URL:
        _redis = _RedisStore(settings.REDIS_URL)
    return _redis


async def start(task_id: int, subtask_id: int, *, user_id: int, user_name: str) -> None:
    meta = {"user_id": user_id, "username": user_name, "started_at": time.time()}
    store = _store()
    if isinstance(store, _RedisStore):
        await store.start(task_id, subtask_id, meta)
    else:
        store.start(task_id, subtask_id, meta)


async def append(subtask_id: int, text: str) -> None:
    store = _store()
    if isinstance(store, _RedisStore):
        await store.append(subtask_id, text)
    else:
        store.append(subtask_id, text)


async def finish(task_id: int, subtask_id: int) -> None:
    store = _store()
    if isinstance(store, _RedisStore):
        await store.finish(task_id, subtask_id)
    else:
        store.finish(task_id, subtask_id)


def text(subtask_id: int) -> str | None:
    """The text so far of a running answer (None when it is not streaming). Sync: threads."""
    return _store().text(subtask_id)


def streaming(task_id: int) -> dict[str, Any] | None:
    """``{subtask_id, user_id, username, started_at}`` while an answer of the task streams."""
    return _store().streaming(task_id)

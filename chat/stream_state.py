"""The live text of running answers, readable from every worker.

The runner appends each delta before it publishes it, so a reader joining at any moment gets
exactly the text so far: chunks it receives afterwards start at or beyond the returned offset.

With ``REDIS_URL`` the text lives in Redis (``APPEND``, so a long answer costs O(delta) per
chunk, not O(text); the appends of all streams go out in batches, see redis_batch), and the
producing process keeps its own streams in a dictionary too: when Redis is away the stream goes
on and the text is written back whole once Redis answers. In the embedded mode there is one
process, so the dictionary is enough.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import orjson
import redis
from django.conf import settings

from wegent.realtime.redis_batch import UNAVAILABLE, batcher, on_reconnect

logger = logging.getLogger(__name__)

TEXT_TTL_SECONDS = 3600
PREFIX = "wegent:chat"


def _text_key(subtask_id: int) -> str:
    return f"{PREFIX}:streaming:{subtask_id}"


def _task_key(task_id: int) -> str:
    return f"{PREFIX}:task_streaming:{task_id}"


def _result_key(subtask_id: int) -> str:
    return f"{PREFIX}:streaming_result:{subtask_id}"


class _LocalStore:
    """One process: text and stream markers in dictionaries (threads read them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: dict[int, list[str]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}
        self._task_of: dict[int, int] = {}  # subtask id -> task id
        # Thinking steps and blocks so far (set at each tool start/end), by subtask id.
        self._results: dict[int, dict[str, Any]] = {}

    def start(self, task_id: int, subtask_id: int, meta: dict[str, Any]) -> None:
        with self._lock:
            self._text[subtask_id] = []
            self._tasks[task_id] = {**meta, "subtask_id": subtask_id}
            self._task_of[subtask_id] = task_id

    def append(self, subtask_id: int, text: str) -> None:
        with self._lock:
            parts = self._text.get(subtask_id)
            if parts is not None:
                parts.append(text)

    def set_result(self, subtask_id: int, result: dict[str, Any]) -> None:
        with self._lock:
            if subtask_id in self._text:
                self._results[subtask_id] = result

    def result(self, subtask_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._results.get(subtask_id)

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

    def running(self) -> list[tuple[int, int, str, dict[str, Any] | None]]:
        """``(task id, subtask id, text so far, the task's marker if it names this stream)`` of
        every running stream."""
        with self._lock:
            found = []
            for subtask_id, parts in self._text.items():
                task_id = self._task_of[subtask_id]
                meta = self._tasks.get(task_id)
                named = meta is not None and meta.get("subtask_id") == subtask_id
                found.append((task_id, subtask_id, "".join(parts), dict(meta) if named else None))
            return found

    def finish(self, task_id: int, subtask_id: int) -> None:
        with self._lock:
            self._text.pop(subtask_id, None)
            self._results.pop(subtask_id, None)
            self._task_of.pop(subtask_id, None)
            meta = self._tasks.get(task_id)
            if meta is not None and meta.get("subtask_id") == subtask_id:
                del self._tasks[task_id]


# Ends a stream's keys in one step: its text, and the task's marker if it still names it.
_FINISH_SCRIPT = """
local marker = redis.call('GET', KEYS[2])
if marker and cjson.decode(marker)['subtask_id'] == tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[3])
return redis.call('DEL', KEYS[1])
"""
# Streams whose end could not reach Redis, remembered (up to this many) to clear their keys when
# it is back; past the cap the oldest are forgotten and their keys expire (TEXT_TTL_SECONDS).
MAX_UNFINISHED = 10_000


class _RedisStore:
    """Several processes: the same operations on Redis; async for the runner, sync for readers.

    The streams of this process are also kept in a local store: their readers here get the text
    without a round trip, and when Redis was away (a restart loses the keys; appends made
    meanwhile were not sent) the whole text is written back from it as soon as Redis answers
    (``redis_batch.on_reconnect``). A stream never fails because of Redis: a write that cannot
    be sent is left to that restore, and a read that cannot be made falls back (see ``text``).
    """

    def __init__(self, url: str) -> None:
        self._url = url
        # Short timeouts: a reader (task:join) must answer, not hang on an unreachable Redis.
        self._sync = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        self.local = _LocalStore()
        self._unfinished: dict[int, int] = {}  # subtask id -> task id

    async def start(self, task_id: int, subtask_id: int, meta: dict[str, Any]) -> None:
        self.local.start(task_id, subtask_id, meta)
        # Through the shared batcher, like the appends: 100 streams starting at once otherwise
        # opened 100 pool connections (measured: a quarter of a second of CPU).
        value = orjson.dumps({**meta, "subtask_id": subtask_id})
        commands = batcher(self._url)
        results = await asyncio.gather(
            commands.call("SET", _text_key(subtask_id), b"", "EX", TEXT_TTL_SECONDS),
            commands.call("SET", _task_key(task_id), value, "EX", TEXT_TTL_SECONDS),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, UNAVAILABLE):
                raise result

    async def append(self, subtask_id: int, text: str) -> None:
        self.local.append(subtask_id, text)
        # Awaited: a reader must find a chunk's text before any socket can have received it.
        # Batched with the other streams' appends (and the hub's publishes) in one pipeline.
        await _tolerate(batcher(self._url).call("APPEND", _text_key(subtask_id), text.encode()))

    def text(self, subtask_id: int) -> str | None:
        local = self.local.text(subtask_id)
        if local is not None:
            return local
        # Redis away: None, and the caller falls back to the saved partial text (task:join).
        raw = self._shared(_text_key(subtask_id), f"live text of {subtask_id}")
        return raw.decode() if raw is not None else None

    def _shared(self, key: str, what: str) -> bytes | None:
        """A key written by the worker that runs the stream; None when Redis is away."""
        try:
            return self._sync.get(key)
        except UNAVAILABLE as exc:
            logger.warning("%s unavailable: %s", what, exc)
            return None

    async def set_result(self, subtask_id: int, result: dict[str, Any]) -> None:
        self.local.set_result(subtask_id, result)
        value = orjson.dumps(result)
        await _tolerate(
            batcher(self._url).call("SET", _result_key(subtask_id), value, "EX", TEXT_TTL_SECONDS)
        )

    def result(self, subtask_id: int) -> dict[str, Any] | None:
        local = self.local.result(subtask_id)
        if local is not None or self.local.text(subtask_id) is not None:
            return local
        raw = self._shared(_result_key(subtask_id), f"live result of {subtask_id}")
        return orjson.loads(raw) if raw is not None else None

    def streaming(self, task_id: int) -> dict[str, Any] | None:
        local = self.local.streaming(task_id)
        if local is not None:
            return local
        raw = self._shared(_task_key(task_id), f"stream marker of task {task_id}")
        return orjson.loads(raw) if raw is not None else None

    async def finish(self, task_id: int, subtask_id: int) -> None:
        self.local.finish(task_id, subtask_id)
        keys = (_text_key(subtask_id), _task_key(task_id), _result_key(subtask_id))
        try:
            await batcher(self._url).call("EVAL", _FINISH_SCRIPT, 3, *keys, subtask_id)
        except UNAVAILABLE:
            self._unfinished[subtask_id] = task_id
            while len(self._unfinished) > MAX_UNFINISHED:
                del self._unfinished[next(iter(self._unfinished))]

    def restore(self) -> list[tuple[Any, ...]]:
        """The commands that put this process's streams back into a Redis that was away: the
        whole live text and marker of each running stream, the end of each stream that ended
        meanwhile. Taken on the loop, so appends issued after them apply on top, in order."""
        commands: list[tuple[Any, ...]] = []
        for subtask_id, task_id in self._unfinished.items():
            keys = (_text_key(subtask_id), _task_key(task_id), _result_key(subtask_id))
            commands.append(("EVAL", _FINISH_SCRIPT, 3, *keys, subtask_id))
        self._unfinished.clear()
        for task_id, subtask_id, text, meta in self.local.running():
            commands.append(("SET", _text_key(subtask_id), text.encode(), "EX", TEXT_TTL_SECONDS))
            if meta is not None:
                commands.append(("SET", _task_key(task_id), orjson.dumps(meta), "EX", TEXT_TTL_SECONDS))
            result = self.local.result(subtask_id)
            if result is not None:
                commands.append(
                    ("SET", _result_key(subtask_id), orjson.dumps(result), "EX", TEXT_TTL_SECONDS)
                )
        return commands


async def _tolerate(write: Any) -> None:
    """Awaits a write of the live state; Redis being away is not the stream's failure (the
    restore hook writes the state back when Redis answers)."""
    try:
        await write
    except UNAVAILABLE:
        pass


def _restore(url: str) -> list[tuple[Any, ...]]:
    store = _redis
    if store is None or store._url != url:
        return []
    return store.restore()


on_reconnect(_restore)


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


async def set_result(subtask_id: int, result: dict[str, Any]) -> None:
    """Keeps a running answer's thinking steps and blocks so far (at each tool start/end)."""
    store = _store()
    if isinstance(store, _RedisStore):
        await store.set_result(subtask_id, result)
    else:
        store.set_result(subtask_id, result)


def result(subtask_id: int) -> dict[str, Any] | None:
    """The thinking steps and blocks of a running answer, when any were set. Sync: threads."""
    return _store().result(subtask_id)


def text(subtask_id: int) -> str | None:
    """The text so far of a running answer (None when it is not streaming). Sync: threads."""
    return _store().text(subtask_id)


def streaming(task_id: int) -> dict[str, Any] | None:
    """``{subtask_id, user_id, username, started_at}`` while an answer of the task streams."""
    return _store().streaming(task_id)

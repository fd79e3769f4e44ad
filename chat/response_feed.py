"""The event log of one ``/api/v1/responses`` answer: the Responses stream events (reference
realtime §6.3) built from the chat runner's deltas and ending, readable while the answer runs
and for ``RESPONSES_KEEP_SECONDS`` after it, from any worker.

The runner does not know about responses: a ``Feed`` watches one answer through
``runner.observe`` (a delta, then one ending). Each event gets the next ``sequence_number`` and
goes into this process's log (readers here follow it without any I/O) and, with Redis, into a
Redis stream ``wegent:responses:events:<task_id>``: each entry holds the events of up to
``FLUSH_SECONDS`` (JSON lines) under the id ``<last sequence number + 1>-0``, so a reader on
another worker replays "after sequence number N" with one ``XREAD`` from ``N+1-0`` (skipping
the entry's events up to N) and then blocks on the same command for what comes next. The
Redis writes go out through the server loop's batcher (one pipeline for many streams, never
awaited by the stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from django.conf import settings

from chat import responses_protocol as rp
from wegent.realtime.redis_batch import UNAVAILABLE, batcher

logger = logging.getLogger(__name__)

KEY_PREFIX = "wegent:responses:events"
# Events kept in Redis per answer at most (a 2,000-delta answer is ~2,010 events).
MAX_EVENTS = 100_000
# Events wait at most this long before they are written to Redis together.
FLUSH_SECONDS = 0.05
# A remote reader blocks this long per XREAD before it checks the answer is still kept.
READ_BLOCK_MS = 10_000


def redis_key(task_id: int) -> str:
    return f"{KEY_PREFIX}:{task_id}"


def sse(event: dict[str, Any]) -> bytes:
    """One event as the reference frames it: a single ``data:`` line, no ``event:`` line."""
    return b"data: " + orjson.dumps(event) + b"\n\n"


class Feed:
    """One answer's events. Made and fed on the server loop (the runner's callbacks)."""

    def __init__(
        self,
        *,
        task_id: int,
        subtask_id: int,
        created_at: int,
        model: str,
        previous_response_id: str | None,
        background: bool,
        mirror: bool = True,
    ) -> None:
        self.task_id = task_id
        self.subtask_id = subtask_id
        # Each event as its SSE frame, encoded once (deltas from a template: the hot path).
        self.frames: list[bytes] = []
        self.opening: dict[str, Any] | None = None  # the response object of response.created
        self.readers = 0  # clients following the events now
        self.ended = False
        self.ended_at: float | None = None
        self.final: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self._parts: list[str] = []
        self._changed = asyncio.Event()
        self._meta = {
            "task_id": task_id,
            "created_at": created_at,
            "model": model,
            "previous_response_id": previous_response_id,
            "background": background,
        }
        self._redis = (settings.REDIS_URL or None) if mirror else None
        self._pending: list[bytes] = []  # events not yet sent to Redis
        self._expiring = False
        if self._redis:
            # A new turn of the task starts its log afresh; the key expires even if we crash.
            commands = batcher(self._redis)
            commands.send("DEL", redis_key(task_id))
        self._opening()
        if self._redis:
            self._flush()  # the log exists from the start (a reader elsewhere may come at once)

    # --- building events -------------------------------------------------------------------------

    def response(
        self, status: str, output: list[dict[str, Any]], error: dict[str, str] | None = None
    ) -> dict:
        return rp.response_object(status=status, output=output, error=error, usage=self.usage, **self._meta)

    def _append(self, kind: str, **fields: Any) -> None:
        item = rp.event(kind, len(self.frames), **fields)
        self._add(orjson.dumps(item), kind in rp.TERMINAL)

    def _add(self, encoded: bytes, terminal: bool = False) -> None:
        self.frames.append(b"data: " + encoded + b"\n\n")
        if self._redis:
            # The events of the next FLUSH_SECONDS go to Redis as one entry (``_flush``): a
            # reader on another worker is that much behind, and a long answer costs Redis a
            # few commands instead of one per delta.
            if not self._pending:
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)
            self._pending.append(encoded)
            if terminal:
                self._flush(expire=True)
        # Wake the readers waiting now; later readers wait on a fresh event.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _flush(self, expire: bool = False) -> None:
        """One Redis entry for the pending events (the timer's call after a terminal flush finds
        none): id ``<last sequence number + 1>-0``, field
        ``e`` their JSON lines (a reader skips those at or before its ``starting_after``)."""
        if self._pending:
            assert self._redis is not None
            commands = batcher(self._redis)
            key = redis_key(self.task_id)
            lines, self._pending = b"\n".join(self._pending), []
            commands.send("XADD", key, "MAXLEN", "~", MAX_EVENTS, f"{len(self.frames)}-0", "e", lines)
            if not self._expiring or expire:
                self._expiring = True
                commands.send("EXPIRE", key, settings.RESPONSES_KEEP_SECONDS)

    def _opening(self) -> None:
        self.opening = self.response("in_progress", [])
        self._append(rp.CREATED, response=self.opening)
        self._append(rp.IN_PROGRESS, response=self.response("in_progress", []))
        self._append(
            rp.ITEM_ADDED, output_index=0, item=rp.output_message(self.subtask_id, "in_progress", None)
        )
        self._append(rp.PART_ADDED, **rp.text_fields(self.subtask_id), part=rp.output_text(""))
        # A delta event is this text with its sequence number and text filled in (the same
        # JSON ``rp.event`` would build, without building it per delta).
        fields = orjson.dumps(rp.text_fields(self.subtask_id))[1:-1]
        self._delta_head = b'{"type":"' + rp.TEXT_DELTA.encode() + b'","sequence_number":'
        self._delta_middle = b"," + fields + b',"delta":'

    # --- the runner's observer interface -------------------------------------------------------------

    def delta(self, text: str) -> None:
        self._parts.append(text)
        number = str(len(self.frames)).encode()
        self._add(self._delta_head + number + self._delta_middle + orjson.dumps(text) + b"}")

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        before = self.usage or {"input_tokens": 0, "output_tokens": 0}
        self.usage = rp.usage(before["input_tokens"] + input_tokens, before["output_tokens"] + output_tokens)

    def ended_with(self, status: str, error: str | None = None) -> None:
        """``status``: ``completed``, ``failed`` or ``cancelled`` (the answer's stored ending)."""
        if self.ended:
            return
        text = "".join(self._parts)
        fields = rp.text_fields(self.subtask_id)
        if status == "failed":
            output = [rp.output_message(self.subtask_id, "incomplete", text)]
            final = self.response("failed", output, rp.error_object(error or "The answer failed"))
            self._append(rp.FAILED, response=final)
        else:
            item_status = "completed" if status == "completed" else "incomplete"
            item = rp.output_message(self.subtask_id, item_status, text)
            self._append(rp.TEXT_DONE, **fields, text=text)
            self._append(rp.PART_DONE, **fields, part=rp.output_text(text))
            self._append(rp.ITEM_DONE, output_index=0, item=item)
            final = self.response(status, [item])
            self._append(rp.COMPLETED if status == "completed" else rp.INCOMPLETE, response=final)
        self.final = final
        self.ended = True
        self.ended_at = time.monotonic()

    # --- reading --------------------------------------------------------------------------------------

    async def batches(self, after: int = -1) -> AsyncIterator[bytes]:
        """The SSE frames of the events with ``sequence_number > after``, then of the new ones
        as they come, until the ending: each time all that is there, as one write. A client
        that goes away closes this (the server closes the response's iterator)."""
        index = max(after + 1, 0)
        self.readers += 1
        try:
            while True:
                changed = self._changed
                if index < len(self.frames):
                    end = len(self.frames)
                    yield b"".join(self.frames[index:end])
                    index = end
                if self.ended and index >= len(self.frames):
                    return
                if index >= len(self.frames):
                    await changed.wait()
        finally:
            self.readers -= 1

    async def wait(self) -> dict[str, Any]:
        """The final response object, once the answer has ended."""
        while not self.ended:
            await self._changed.wait()
        assert self.final is not None
        return self.final


def snapshot(
    *,
    task_id: int,
    subtask_id: int,
    created_at: int,
    model: str,
    previous_response_id: str | None,
    text: str,
    ending: str | None,
    error: str | None = None,
) -> list[bytes]:
    """The SSE frames of an answer no log holds any more, rebuilt from what is stored: its text as
    one delta, and its ending when it has one (``ending`` None: still running elsewhere)."""
    feed = Feed(
        task_id=task_id,
        subtask_id=subtask_id,
        created_at=created_at,
        model=model,
        previous_response_id=previous_response_id,
        background=False,
        mirror=False,
    )
    if text:
        feed.delta(text)
    if ending is not None:
        feed.ended_with(ending, error)
    return feed.frames


def has_remote_log(task_id: int) -> bool:
    """Whether Redis holds the task's event log (sync: called from a view's thread)."""
    if not settings.REDIS_URL:
        return False
    try:
        return bool(_sync_redis().exists(redis_key(task_id)))
    except UNAVAILABLE:
        return False


_sync_client: Any = None


def _sync_redis() -> Any:
    global _sync_client
    if _sync_client is None:
        import redis

        _sync_client = redis.Redis.from_url(settings.REDIS_URL)
    return _sync_client


# task id -> the feed of its latest responses answer made in this process.
_feeds: dict[int, Feed] = {}


def register(feed: Feed) -> None:
    _prune()
    _feeds[feed.task_id] = feed


def local(task_id: int, subtask_id: int | None = None) -> Feed | None:
    feed = _feeds.get(task_id)
    if feed is None or (subtask_id is not None and feed.subtask_id != subtask_id):
        return None
    return feed


# Ended feeds this process keeps at most (their events are in memory); older ones are replayed
# from Redis, or rebuilt from the stored answer.
MAX_ENDED_FEEDS = 200


def _prune() -> None:
    keep = settings.RESPONSES_KEEP_SECONDS
    now = time.monotonic()
    ended = []
    for task_id, feed in list(_feeds.items()):
        if feed.ended_at is None:
            continue
        if now - feed.ended_at > keep:
            del _feeds[task_id]
        else:
            ended.append((feed.ended_at, task_id))
    for _, task_id in sorted(ended)[: max(0, len(ended) - MAX_ENDED_FEEDS)]:
        del _feeds[task_id]


def forget(task_id: int) -> None:
    """A deleted response's log goes (here and in Redis)."""
    _feeds.pop(task_id, None)
    if settings.REDIS_URL:
        try:
            _sync_redis().delete(redis_key(task_id))
        except UNAVAILABLE:
            logger.warning("responses: could not delete the event log of %s", task_id)


async def remote_events(task_id: int, after: int = -1) -> AsyncIterator[dict[str, Any]]:
    """The events after ``after`` from the Redis log (another worker's answer), following it
    live until its ending (or until the log is gone)."""
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    key = redis_key(task_id)
    last = f"{max(after + 1, 0)}-0"
    try:
        while True:
            reply = await client.xread({key: last}, count=1000, block=READ_BLOCK_MS)
            if not reply:
                if not await client.exists(key):
                    return  # expired or deleted meanwhile
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                for line in fields[b"e"].split(b"\n"):
                    item = orjson.loads(line)
                    if item.get("sequence_number", -1) <= after:
                        continue
                    yield item
                    if item.get("type") in rp.TERMINAL:
                        return
    finally:
        await client.aclose()

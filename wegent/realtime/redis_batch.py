"""Redis commands of the server loop, sent in order and in batches, and held while Redis is away.

Every chat chunk costs a Redis ``APPEND`` (the live text) and, with several processes, a
``PUBLISH`` (the chunk for the other workers). One command at a time, 100 streams at once cost
a round trip and a connection checkout per command; here each loop's commands queue up and one
writer task sends whatever is queued as one pipeline, in the order they were issued (an
``APPEND`` issued before a ``PUBLISH`` is applied before it, awaited or not).

When Redis cannot be reached (a restart, a network blip) the batcher is *down* until a PING
answers again:
- awaited commands (``call``) fail at once with ``RedisUnavailable``: their callers keep what they
  need locally (the chat stream keeps its text) and never wait on Redis;
- unawaited commands (``send``: the hub's publishes to other processes) are held, in order, up to
  ``MAX_HELD_BYTES``; past it the oldest are dropped (logged), so a long outage costs bounded
  memory and the most recent events (an answer's ``chat:done``) survive;
- when Redis answers again, the restore hooks (``on_reconnect``) run first (the chat stream state
  writes its live texts back: a restarted Redis lost them), then the held commands go out.
A failed pipeline is not resent as is (redis-py's own retries are off here): it may have been
applied in part, and re-applying an ``APPEND`` would double text. The restore hooks write whole
values instead, which is exact however much was applied. Held publishes are delivered at least
once (rarely twice, if Redis applied them just before the connection broke); every chunk carries
its offset, so a client can tell.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

logger = logging.getLogger(__name__)

# More than this many commands are split into several pipelines (bounded reply buffers).
MAX_BATCH = 512
# Unawaited commands held per event loop while Redis is away (bytes of their arguments).
MAX_HELD_BYTES = 8 * 1024 * 1024
# Seconds between two PINGs while Redis is away (doubling from the first up to the last).
PROBE_SECONDS = (0.05, 1.0)
# A command slower than this counts as Redis being away (a hung server must not stall streams).
SOCKET_TIMEOUT_SECONDS = 5.0
# When Redis is back, held publishes wait (at most this long) until each channel has as many
# subscribers as the last publish before the outage reached: the other processes' listeners
# resubscribe on their own schedule, and Redis does not replay what they were not there for.
RESUBSCRIBE_WAIT_SECONDS = 3.0

# What a command may raise when Redis cannot be reached (as opposed to a command error).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class RedisUnavailable(redis.exceptions.ConnectionError):
    """Raised to an awaited command issued while Redis is away (it was not sent)."""


# Called with the URL when its Redis answers again after an outage; each returns commands to
# send before anything else (they are not held if Redis goes away again: the hook runs again).
RestoreHook = Callable[[str], list[tuple[Any, ...]]]
_restore_hooks: list[RestoreHook] = []


def on_reconnect(hook: RestoreHook) -> None:
    if hook not in _restore_hooks:
        _restore_hooks.append(hook)


_CALL, _SEND, _RESTORE = 0, 1, 2


def _size(args: tuple[Any, ...]) -> int:
    return sum(len(a) if isinstance(a, bytes | str) else 8 for a in args)


class _LoopBatcher:
    """The queue and writer of one event loop (connections cannot cross loops)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None, int]] = []
        self.down = False
        self.held_bytes = 0  # of the unawaited commands in ``pending`` while down
        self.dropped = 0
        # channel -> how many subscribers the last PUBLISH on it reached (see _recover).
        self.receivers: dict[Any, int] = {}
        self.wakeup = asyncio.Event()
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def submit(self, args: tuple[Any, ...], wanted: bool) -> asyncio.Future[Any] | None:
        future = asyncio.get_running_loop().create_future() if wanted else None
        if self.down:
            if future is not None:
                future.set_exception(RedisUnavailable(f"Redis at {self.url} is unreachable"))
                return future
            self.held_bytes += _size(args)
            self.pending.append((args, None, _SEND))
            self._trim()
            return None
        self.pending.append((args, future, _CALL if wanted else _SEND))
        self.wakeup.set()
        return future

    async def _write(self) -> None:
        while True:
            if self.down:
                await self._recover()
                continue
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending and not self.down:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._send(batch)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None, int]]) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for args, _, _ in batch:
                    pipe.execute_command(*args)
                results = await pipe.execute(raise_on_error=False)
        except UNAVAILABLE as exc:
            self._went_away(batch, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the callers get the failure
            results = [exc] * len(batch)
        failed = 0
        for (args, future, _), result in zip(batch, results, strict=True):
            if args[0] == "PUBLISH" and isinstance(result, int):
                self.receivers[args[1]] = result
            if future is None:
                failed += isinstance(result, Exception)
            elif not future.done():
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        if failed:
            logger.warning("%d unawaited Redis commands failed: %s", failed, results[0])

    def _went_away(self, batch: list[tuple[tuple[Any, ...], Any, int]], exc: BaseException) -> None:
        """The batch could not be sent: from here on Redis is away until a PING answers. Awaited
        commands fail now (the batch's and those queued behind it: sent after the restore they
        would apply twice); publishes are held; restore commands are dropped (rebuilt later)."""
        logger.warning("Redis at %s is unreachable (%s); holding publishes until it is back", self.url, exc)
        self.down = True
        held = []
        for args, future, kind in batch + self.pending:
            if kind == _SEND:
                held.append((args, None, _SEND))
            elif kind == _CALL and future is not None and not future.done():
                future.set_exception(RedisUnavailable(f"Redis at {self.url} is unreachable: {exc}"))
        self.pending = held
        self.held_bytes = sum(_size(args) for args, _, _ in held)
        self._trim()

    def _trim(self) -> None:
        """Past the cap the oldest held publishes are dropped: clients of other workers miss
        those events (the stream itself, its local sockets and the saved answer are not
        affected; the final ``chat:done`` carries the whole text)."""
        while self.held_bytes > MAX_HELD_BYTES and self.pending:
            args, _, _ = self.pending.pop(0)
            self.held_bytes -= _size(args)
            self.dropped += 1

    async def _recover(self) -> None:
        delay, longest = PROBE_SECONDS
        while True:
            try:
                await self.client.ping()
                break
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - still away; try again
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
        await self._await_subscribers()
        restore: list[tuple[tuple[Any, ...], Any, int]] = []
        for hook in _restore_hooks:
            try:
                restore += [(args, None, _RESTORE) for args in hook(self.url)]
            except Exception:  # one hook must not keep the others' state out
                logger.exception("Redis restore hook failed")
        if self.dropped:
            logger.warning(
                "Redis outage: %d held publishes were dropped (over %d bytes)", self.dropped, MAX_HELD_BYTES
            )
        logger.warning(
            "Redis at %s is back: restoring %d values, sending %d held commands",
            self.url,
            len(restore),
            len(self.pending),
        )
        self.pending[:0] = restore
        self.down, self.held_bytes, self.dropped = False, 0, 0
        self.wakeup.set()

    async def _await_subscribers(self) -> None:
        """Waits (bounded) until the channels of the held publishes have their subscribers
        back, so the other workers' sockets get the events held for them. Still down meanwhile:
        streams go on locally and new publishes are held behind the old ones, in order."""
        expected = {
            args[1]: self.receivers.get(args[1], 0) for args, _, _ in self.pending if args[0] == "PUBLISH"
        }
        expected = {channel: count for channel, count in expected.items() if count > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESUBSCRIBE_WAIT_SECONDS
        while expected and loop.time() < deadline:
            try:
                counts = dict(await self.client.pubsub_numsub(*expected))
            except UNAVAILABLE:
                counts = {}
            expected = {c: n for c, n in expected.items() if counts.get(_as_bytes(c), 0) < n}
            if expected:
                await asyncio.sleep(PROBE_SECONDS[0])
        if expected:
            logger.warning(
                "Redis is back but not every worker has resubscribed: %s", sorted(map(str, expected))
            )


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class RedisBatcher:
    def __init__(self, url: str) -> None:
        self.url = url
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBatcher] = (
            weakref.WeakKeyDictionary()
        )

    def _here(self) -> _LoopBatcher:
        loop = asyncio.get_running_loop()
        batcher = self._loops.get(loop)
        if batcher is None or batcher.writer.done():
            batcher = self._loops[loop] = _LoopBatcher(self.url)
        return batcher

    def call(self, *args: Any) -> asyncio.Future[Any]:
        """Queues one command now (its place in the order is taken here, not when awaited);
        the future gives its reply, or ``RedisUnavailable`` / a connection error when Redis is
        away (see the module docstring)."""
        future = self._here().submit(args, wanted=True)
        assert future is not None
        return future

    def send(self, *args: Any) -> None:
        """Queues one command without waiting for it: held while Redis is away, failures of the
        command itself are logged."""
        self._here().submit(args, wanted=False)


_batchers: dict[str, RedisBatcher] = {}


def batcher(url: str) -> RedisBatcher:
    found = _batchers.get(url)
    if found is None:
        found = _batchers[url] = RedisBatcher(url)
    return found

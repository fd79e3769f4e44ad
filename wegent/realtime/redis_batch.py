"""Redis commands of the server loop, sent in order and in batches.

Every chat chunk costs a Redis ``APPEND`` (the live text) and, with several processes, a
``PUBLISH`` (the chunk for the other workers). One command at a time, 100 streams at once cost
a round trip and a connection checkout per command; here each loop's commands queue up and one
writer task sends whatever is queued as one pipeline, in the order they were issued (an
``APPEND`` issued before a ``PUBLISH`` is applied before it, awaited or not).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

# More than this many commands are split into several pipelines (bounded reply buffers).
MAX_BATCH = 512


class _LoopBatcher:
    """The queue and writer of one event loop (connections cannot cross loops)."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = []
        self.wakeup = asyncio.Event()
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def submit(self, args: tuple[Any, ...], wanted: bool) -> asyncio.Future[Any] | None:
        future = asyncio.get_running_loop().create_future() if wanted else None
        self.pending.append((args, future))
        self.wakeup.set()
        return future

    async def _write(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._send(batch)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]]) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.execute_command(*args)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - the callers get the failure
            results = [exc] * len(batch)
        failed = 0
        for (_, future), result in zip(batch, results, strict=True):
            if future is None:
                failed += isinstance(result, Exception)
            elif not future.done():
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        if failed:
            logger.warning("%d unawaited Redis commands failed: %s", failed, results[0])


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
        the future gives its reply."""
        future = self._here().submit(args, wanted=True)
        assert future is not None
        return future

    def send(self, *args: Any) -> None:
        """Queues one command without waiting for it (failures are logged)."""
        self._here().submit(args, wanted=False)


_batchers: dict[str, RedisBatcher] = {}


def batcher(url: str) -> RedisBatcher:
    found = _batchers.get(url)
    if found is None:
        found = _batchers[url] = RedisBatcher(url)
    return found

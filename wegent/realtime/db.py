"""Running synchronous ORM code from the event loop (namespace handlers, the chat runner).

Each call runs in a worker thread and closes that thread's connection when it is obsolete, as a
request would (outside the request cycle Django does not do it by itself).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from wegent import telemetry

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


def _closing(fn: Callable[..., T]) -> Callable[..., T]:
    def run(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return run


_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    """Its own pool (the loop's default one has cpu+4 threads, shared with everything else).

    On SQLite one thread: writers there take turns anyway, and competing connections wait in
    SQLite's busy handler, whose growing sleeps made a burst of 100 chats take seconds to start
    (measured); one thread takes them in order without sleeping. On a database server a few
    threads: the ORM work is CPU-bound under the GIL, so many threads only make a burst of
    chats all finish late together instead of one after another.
    """
    global _executor
    if _executor is None:
        threads = 1 if connection.vendor == "sqlite" else settings.REALTIME_DB_THREADS
        _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="realtime-db")
    return _executor


async def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await sync_to_async(_closing(fn), thread_sensitive=False, executor=_threads())(*args, **kwargs)


@dataclass
class _Batches(Generic[A, R]):
    """One event loop's calls waiting for the next batch, and the task that runs the batches."""

    waiting: list[tuple[A, asyncio.Future[R]]] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None


class Coalesced(Generic[A, R]):
    """Calls that arrive while an earlier batch waits for or holds a database thread go in the
    next batch: ``many`` runs once per batch, in a worker thread, with every waiting call's
    argument, and answers each with its own entry (an exception entry is raised to that
    caller alone).

    A burst of 100 chats then costs a few rounds of queries instead of 100, and each round
    needs the GIL back from the busy event loop once per query, not once per query per chat.
    """

    def __init__(self, many: Callable[[list[A]], list[R | Exception]], *, limit: int = 64) -> None:
        self._many = many
        self._limit = limit
        # Per loop: servers in tests come and go with their loops.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batches[A, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, item: A) -> R:
        loop = asyncio.get_running_loop()
        batches = self._loops.setdefault(loop, _Batches())
        future: asyncio.Future[R] = loop.create_future()
        batches.waiting.append((item, future))
        if batches.drainer is None:
            batches.drainer = loop.create_task(self._drain(batches))
        return await future

    async def _drain(self, batches: _Batches[A, R]) -> None:
        try:
            while batches.waiting:
                batch, batches.waiting = batches.waiting[: self._limit], batches.waiting[self._limit :]
                try:
                    # A batch serves many callers (many traces): its writes belong to none.
                    with telemetry.detached():
                        results = await run_sync(self._many, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the whole batch failed: every caller hears it
                    results = [exc] * len(batch)
                except BaseException:  # cancelled (shutdown): nobody may wait for good
                    batches.waiting = batch + batches.waiting
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller went away (a closed socket)
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            batches.drainer = None
            for _, future in batches.waiting:
                future.cancel()
            batches.waiting = []

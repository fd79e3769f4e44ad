"""Running synchronous ORM code from the event loop (namespace handlers, the chat runner).

Each call runs in a worker thread and closes that thread's connection when it is obsolete, as a
request would (outside the request cycle Django does not do it by itself).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

T = TypeVar("T")


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

"""Django's ASGI HTTP handler, tuned: a fixed pool of long-lived threads, one hop per request.

Two costs of the stock handler were measured here (~120 req/s even for /api/health):

* Each request's sync code ran in a thread made for that request. Database connections
  belong to threads, so every request opened a new one. Here each request borrows one of N
  single-thread executors; the threads live for the process, so their connections persist
  (CONN_MAX_AGE), and one slow sync call ties up one slot, not the server.
* With sync-only middleware (WhiteNoise) in an async chain, a request bounced between the
  event loop and a thread several times. Here the middleware chain is loaded in sync mode and
  runs, with the view, in one hop. Streaming bodies are still sent from the event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{index}")
            for index in range(max(1, threads))
        ]
        # One idle queue per event loop (tests may run several loops in one process).
        self._idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Queue] = (
            weakref.WeakKeyDictionary()
        )

    def _idle_queue(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        queue = self._idle.get(loop)
        if queue is None:
            queue = asyncio.Queue()
            for executor in self._executors:
                queue.put_nowait(executor)
            self._idle[loop] = queue
        return queue

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._idle_queue()
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # The whole sync middleware chain and the view in one hop to the borrowed thread.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

"""Django's ASGI HTTP handler, tuned: a fixed pool of long-lived threads, one hop per request.

Two costs of the stock handler were measured here (~120 req/s even for /api/health):

* Each request's sync code ran in a thread made for that request. Database connections
  belong to threads, so every request opened a new one. Here each request borrows one of N
  single-thread executors; the threads live for the process, so their connections persist
  (CONN_MAX_AGE), and one slow sync call ties up one slot, not the server.
* With sync-only middleware (WhiteNoise) in an async chain, a request bounced between the
  event loop and a thread several times, and the stock handler adds hops for its signals and
  for closing the response, plus two tasks per request. Here the middleware chain is loaded in
  sync mode and the whole request (signals, view, close) runs in one hop; only sending happens
  on the event loop. Streaming bodies are still sent from the event loop, then closed.

A third cost shows under concurrent load: every thread that runs Python at the same time
competes for the GIL, and each database round trip gives it up and must win it back. Eight
requests building responses at once spent a quarter of the server's CPU in the kernel switching
threads (perf; about 70 context switches per Kind write against 29 with four at once), and
served fewer requests, not more. So only ``active`` requests build their responses at once;
the others wait on the event loop for a turn. A request still building after ``SLOW_SECONDS``
(an outbound call, a large export) stops counting against that limit, so slow requests never
hold the fast ones back, and up to ``threads`` of them may run at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

from wegent.middleware import body_limit_response

# A request building its response for longer than this no longer counts against the limit of
# requests building at once (the Kind write path takes 2-20 ms under load).
SLOW_SECONDS = 0.05


class _Turns:
    """At most ``limit`` requests hold a turn at once. A turn ends when its request is done or
    after ``SLOW_SECONDS``, whichever is first (the request itself runs on)."""

    def __init__(self, limit: int) -> None:
        self._free = asyncio.Semaphore(limit)

    async def take(self) -> Callable[[], None]:
        """Waits for a turn; returns the call that ends it (safe to call after it timed out)."""
        await self._free.acquire()
        held = True

        def end() -> None:
            nonlocal held
            if held:
                held = False
                self._free.release()

        timer = asyncio.get_running_loop().call_later(SLOW_SECONDS, end)

        def done() -> None:
            timer.cancel()
            end()

        return done


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, threads: int, active: int | None = None) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._respond_in_thread = sync_to_async(self._respond, thread_sensitive=True)
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{index}")
            for index in range(max(1, threads))
        ]
        self._active = max(1, min(active or len(self._executors), len(self._executors)))
        # Threads are lent last-in first-out. One idle queue and one set of turns per event
        # loop (tests may run several loops in one process).
        self._idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Queue] = (
            weakref.WeakKeyDictionary()
        )
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
            weakref.WeakKeyDictionary()
        )

    def _idle_queue(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        queue = self._idle.get(loop)
        if queue is None:
            queue = asyncio.LifoQueue()
            for executor in self._executors:
                queue.put_nowait(executor)
            self._idle[loop] = queue
        return queue

    def _loop_turns(self) -> _Turns:
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            turns = self._turns[loop] = _Turns(self._active)
        return turns

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _borrowed_thread(self) -> AsyncIterator[Callable[[], None]]:
        """A turn, then an idle thread for this request's sync calls; yields the turn's end.

        The thread last given back is lent first, so under load the same few threads (and
        their warm connections) do the work."""
        end_turn = await self._loop_turns().take()
        try:
            idle = self._idle_queue()
            executor = await idle.get()
            try:
                async with ThreadSensitiveContext(executor=executor):
                    yield end_turn
            finally:
                idle.put_nowait(executor)
        finally:
            end_turn()

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Read the body, then build the response in one hop to a borrowed thread, then send."""
        # A declared body over the route's limit is refused before a byte of it is read (Django
        # would otherwise spool all of it to disk before any middleware could object).
        headers = dict(scope.get("headers") or [])
        refusal = body_limit_response(
            scope.get("path", ""), headers.get(b"content-length", b"").decode("latin-1")
        )
        if refusal is not None:
            await self.send_response(refusal, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            async with self._borrowed_thread() as end_turn:
                try:
                    response = await self._respond_in_thread(scope, body_file)
                finally:
                    end_turn()  # sending needs no turn
                try:
                    if response.streaming:
                        await self._send_until_disconnect(response, send, receive)
                    else:
                        await self.send_response(response, send)
                except asyncio.CancelledError:
                    pass  # the client went away while we were sending
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    async def _send_until_disconnect(self, response: HttpResponseBase, send: Any, receive: Any) -> None:
        """Sends a streaming body until it ends or the client goes away, whichever is first.

        The server drops what is sent after a disconnect without telling, so a body that
        follows something long (an event stream) would otherwise run on for nobody; the body's
        iterator is closed instead. The request body was read, so ``receive`` returns only
        ``http.disconnect``."""
        sending = asyncio.ensure_future(self.send_response(response, send))
        watching = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
            if sending in done:
                sending.result()  # what sending raised, as before
            else:
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
        finally:
            if not sending.done():  # this task itself was cancelled
                sending.cancel()
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """Everything Django does for one request that needs no event loop, in one thread call."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            error_response.close()
            return error_response
        response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # The body is rendered, so request_finished (connection upkeep) can run now, here.
            response.close()
        return response

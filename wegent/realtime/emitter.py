"""Emitting Socket.IO events to rooms or single connections from anywhere.

``emit`` is for async code (consumers, the chat runner); ``emit_sync`` for threads (sync views
and services) and for processes without a server (Celery workers, management commands). Events
go through the hub (``hub.py``): written to this process's sockets, and with Redis published to
every other process.

A server's sockets belong to its event loop, so ``emit_sync`` hands the emit to that loop
instead of running it on a loop of its own; a process with no server publishes straight to
Redis (or, without Redis, nobody could receive it and it is dropped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from wegent.realtime.hub import CLOSE, hub, publish_from_sync
from wegent.realtime.namespaces import paths
from wegent.realtime.packets import encode_event

logger = logging.getLogger(__name__)
EMIT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")
_server_loop: asyncio.AbstractEventLoop | None = None
_pending: set[asyncio.Task[None]] = set()


def remember_loop() -> None:
    """Called on the server's event loop (by the transport and the lifespan) so threads can reach it."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def has_server_loop() -> bool:
    return _server_loop is not None and not _server_loop.is_closed()


def _target(room: str | None, to: str | None) -> None:
    if room is None and to is None:
        raise ValueError("emit needs a room or a connection")


async def emit(
    event: str,
    data: Any,
    *,
    room: str | None = None,
    to: str | None = None,
    namespace: str = "/chat",
    skip: str | None = None,
) -> None:
    """Sends ``event`` to every socket of ``namespace`` in ``room``, or to the connection ``to``
    (a connection id); ``skip`` is a connection id left out (the sender). The frame is encoded
    once for all receivers."""
    _target(room, to)
    await hub.publish(namespace, encode_event(namespace, event, data), room=room, to=to, skip=skip)


def in_server_loop(coroutine: Coroutine[Any, Any, T], *, timeout: float = EMIT_TIMEOUT_SECONDS) -> T | None:
    """Runs ``coroutine`` on this process's server loop from another thread and waits for it.

    Called on the loop itself it is scheduled without waiting (blocking there would deadlock);
    with no server loop in this process it is dropped and None returned.
    """
    loop = _server_loop
    if loop is None or loop.is_closed():
        coroutine.close()
        return None
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(coroutine)
        return None
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(timeout=timeout)
    except TimeoutError:
        logger.warning("call on the server loop timed out")
        return None


def emit_sync(
    event: str,
    data: Any,
    *,
    room: str | None = None,
    to: str | None = None,
    namespace: str = "/chat",
    skip: str | None = None,
) -> None:
    """``emit`` for code running outside the event loop (a thread or another process).

    In a server process the emit is handed to the server's loop and not waited for: a database
    thread must not stall on a busy loop.
    """
    _target(room, to)
    loop = _server_loop
    if loop is not None and not loop.is_closed():
        coroutine = emit(event, data, room=room, to=to, namespace=namespace, skip=skip)
        loop.call_soon_threadsafe(_start, coroutine)
        return
    publish_from_sync(namespace, encode_event(namespace, event, data), room=room, to=to, skip=skip)


def _start(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def close_room_sync(room: str, *, namespaces: tuple[str, ...] | None = None) -> None:
    """Ends every connection in ``room`` (on each namespace, or those given), on every process:
    the server sends them the namespace's DISCONNECT and forgets them, as ``socket.disconnect``
    does. For sync code; in a server process it runs on the server's loop without waiting."""
    for namespace in namespaces or paths():
        loop = _server_loop
        if loop is not None and not loop.is_closed():
            coroutine = hub.publish(namespace, CLOSE, room=room, to=None, skip=None)
            loop.call_soon_threadsafe(_start, coroutine)
        else:
            publish_from_sync(namespace, CLOSE, room=room, to=None, skip=None)

"""Emitting Socket.IO events to rooms or single connections from anywhere.

``emit`` is for async code (consumers, the chat runner); ``emit_sync`` for threads (sync views
and services, Celery tasks, management commands). Both go through the channel layer, so a
client connected to any worker receives them when the layer is Redis.

The in-memory layer (embedded mode) is not thread-safe: its queues belong to the server's
event loop. ``emit_sync`` therefore hands the emit to that loop instead of running it on a loop
of its own; without a server in this process nobody could receive it, so it is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from wegent.realtime.packets import encode_event
from wegent.realtime.rooms import group_name

logger = logging.getLogger(__name__)
EMIT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")
_server_loop: asyncio.AbstractEventLoop | None = None
_pending: set[asyncio.Task[None]] = set()


def remember_loop() -> None:
    """Called on the server's event loop (by the transport) so threads can reach it."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def has_server_loop() -> bool:
    return _server_loop is not None and not _server_loop.is_closed()


def _message(namespace: str, event: str, data: Any, skip: str | None) -> dict[str, Any]:
    # Encoded once here, not once per receiving connection.
    return {
        "type": "sio.emit",
        "namespace": namespace,
        "frame": encode_event(namespace, event, data),
        "skip": skip,
    }


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
    (a channel name); ``skip`` is a channel name left out (the sender)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = _message(namespace, event, data, skip)
    if to is not None:
        await layer.send(to, message)
    elif room is not None:
        await layer.group_send(group_name(namespace, room), message)
    else:
        raise ValueError("emit needs a room or a connection")


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
    thread must not stall on a busy loop (and the in-memory layer only works on that loop).
    Elsewhere (a Celery worker, a command) it is sent through the layer and waited for.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if loop is not None and not loop.is_closed():
        coroutine = emit(event, data, room=room, to=to, namespace=namespace, skip=skip)
        loop.call_soon_threadsafe(_start, coroutine)
        return
    if isinstance(layer, InMemoryChannelLayer):
        return  # no server in this process: nobody could receive it
    async_to_sync(emit)(event, data, room=room, to=to, namespace=namespace, skip=skip)


def _start(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _pending.add(task)
    task.add_done_callback(_pending.discard)

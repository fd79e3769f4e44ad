"""ASGI lifespan: apps register what must run when the server starts and stops.

The chat runner registers its graceful shutdown (finish or cancel running streams) here; the
server's event loop is remembered at startup so threads can hand it work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from wegent.hooks import Hook
from wegent.realtime import emitter

logger = logging.getLogger(__name__)

shutdown: Hook[Callable[[], Awaitable[None]]] = Hook(
    "wegent.shutdown", "awaited in order when the ASGI server stops; a failure is logged"
)


async def run_shutdown() -> None:
    for hook in shutdown:
        try:
            await hook()
        except Exception:
            logger.exception("shutdown hook %s failed", hook)


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
    """The ``lifespan`` protocol handler of the ASGI application."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            emitter.remember_loop()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await run_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return

"""A real Socket.IO client (python-socketio) on /chat that records what it receives."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from accounts.services.tokens import issue_access_token


class Recorder:
    """A connected python-socketio client that records every /chat event it receives."""

    def __init__(self, client: socketio.AsyncClient) -> None:
        self.client = client
        self.events: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()

    def record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self.changed.set()

    def named(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, predicate: Any = None, timeout: float = 10.0) -> Any:
        async def waiter() -> Any:
            while True:
                for name, data in self.events:
                    if name == event and (predicate is None or predicate(data)):
                        return data
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(waiter(), timeout)

    async def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        return await self.client.call(event, data, namespace="/chat", timeout=timeout)

    async def close(self) -> None:
        await self.client.disconnect()


EVENTS = (
    "chat:start",
    "chat:chunk",
    "chat:done",
    "chat:error",
    "chat:cancelled",
    "chat:message",
    "chat:bot_complete",
    "task:created",
    "task:status",
    "auth:error",
    "skill:request",
    "chat:sources",
    "knowledge:document_status",
)


async def connect(
    url: str,
    user: Any = None,
    *,
    token: str | None = None,
    transports: list[str] | None = None,
    **client_options: Any,
) -> Recorder:
    """``transports`` as python-socketio takes them (default: websocket only, as before);
    ``client_options`` go to ``socketio.AsyncClient`` (e.g. an ``http_session``)."""
    client = socketio.AsyncClient(reconnection=False, **client_options)
    recorder = Recorder(client)
    for event in EVENTS:
        client.on(event, lambda data, event=event: recorder.record(event, data), namespace="/chat")
    auth = {"token": token if token is not None else issue_access_token(user)}
    await client.connect(
        url, namespaces=["/chat"], auth=auth, transports=transports or ["websocket"], wait_timeout=10
    )
    return recorder

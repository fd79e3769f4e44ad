"""A real python-socketio client on ``/local-executor`` that behaves as Wegent's local executor
(reference realtime §4.7): it connects with a token, registers, heartbeats, receives tasks and
reports progress and results."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

NAMESPACE = "/local-executor"
EVENTS = ("task:execute", "task:cancel", "task:close-session")


class FakeExecutor:
    def __init__(self, device_id: str = "hw-0123456789ab", name: str = "Linux - box") -> None:
        self.device_id = device_id
        self.name = name
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()
        self.refusal: Any = None
        for event in EVENTS:
            self.client.on(event, lambda data, event=event: self._record(event, data), namespace=NAMESPACE)
        self.client.on("connect_error", self._refused, namespace=NAMESPACE)

    def _record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self.changed.set()

    def _refused(self, data: Any) -> None:
        self.refusal = data
        self.changed.set()

    async def connect(self, url: str, token: str | None) -> None:
        auth = {"token": token} if token is not None else None
        await self.client.connect(
            url, namespaces=[NAMESPACE], auth=auth, transports=["websocket"], wait_timeout=10
        )

    async def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        return await self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)

    async def register(self, **extra: Any) -> Any:
        body = {"device_id": self.device_id, "name": self.name, "executor_version": "1.0.0", **extra}
        return await self.call("device:register", body)

    async def heartbeat(self, running: list[int] | None = None) -> Any:
        return await self.call(
            "device:heartbeat", {"device_id": self.device_id, "running_task_ids": running or []}
        )

    async def wait_for(self, event: str, predicate: Any = None, timeout: float = 10.0) -> Any:
        async def waiter() -> Any:
            while True:
                for name, data in self.events:
                    if name == event and (predicate is None or predicate(data)):
                        return data
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(waiter(), timeout)

    async def progress(self, task: dict[str, Any], **fields: Any) -> Any:
        body = {
            "task_id": task["task_id"],
            "subtask_id": task["subtask_id"],
            "progress": 50,
            "status": "RUNNING",
        }
        return await self.call("task:progress", {**body, **fields})

    async def close(self) -> None:
        await self.client.disconnect()

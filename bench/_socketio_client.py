"""Socket.IO clients for the chat benchmarks.

``ChatSocket``: a python-socketio ``AsyncClient`` on ``/chat`` that time-stamps every stream
event on arrival and rebuilds each answer from its chunks (checking the offsets).

``IdleSocket``: a bare WebSocket with the Engine.IO/Socket.IO handshake done by hand (open
packet, ``40/chat,{"token": ...}``) that only answers server pings: it keeps the client side of
a thousand idle connections light.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import socketio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

NAMESPACE = "/chat"
T = TypeVar("T")


@dataclass
class Stream:
    """One assistant answer as one socket saw it (times are ``time.perf_counter()``)."""

    subtask_id: int
    task_id: int | None = None
    message_id: int | None = None
    acked: float | None = None  # when the chat:send ack came back (set by the sender)
    started: float | None = None
    first_chunk: float | None = None
    done: float | None = None
    chunks: int = 0
    length: int = 0
    parts: list[str] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected offset, received offset)
    value: str | None = None  # chat:done result.value
    error: str | None = None  # chat:error

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def problems(self, expected: str | None = None) -> list[str]:
        """What is wrong with this answer (empty when it arrived whole and in order)."""
        found = []
        if self.error is not None:
            found.append(f"chat:error {self.error!r}")
        if self.done is None:
            found.append(f"no chat:done ({self.chunks} chunks, {self.length} chars so far)")
        if self.gaps:
            found.append(f"{len(self.gaps)} offset gaps, first (expected, got) {self.gaps[0]}")
        text = self.text
        if self.done is not None and self.value is not None and self.value != text:
            found.append(f"chunks rebuild {len(text)} chars, chat:done says {len(self.value)}")
        if expected is not None and self.done is not None and text != expected:
            found.append(f"text is {len(text)} chars, expected {len(expected)}")
        return found


class ChatSocket:
    """A ``/chat`` connection that records stream events."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.streams: dict[int, Stream] = {}
        self.other_errors: list[tuple[str, Any]] = []
        self.disconnected: float | None = None
        self.changed = asyncio.Event()
        on = self.client.on
        on("chat:start", self._on_start, namespace=NAMESPACE)
        on("chat:chunk", self._on_chunk, namespace=NAMESPACE)
        on("chat:done", self._on_done, namespace=NAMESPACE)
        on("chat:error", self._on_error, namespace=NAMESPACE)
        on("auth:error", lambda data: self._other("auth:error", data), namespace=NAMESPACE)
        on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    # --- events (sync handlers: python-socketio calls them as each packet is decoded) ---------

    def _stream(self, data: dict[str, Any]) -> Stream:
        subtask_id = data.get("subtask_id")
        stream = self.streams.get(subtask_id)  # type: ignore[arg-type]
        if stream is None:
            stream = self.streams[subtask_id] = Stream(subtask_id)  # type: ignore[arg-type]
        if stream.task_id is None:
            stream.task_id = data.get("task_id")
        return stream

    def _on_start(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        stream.started = now
        stream.message_id = data.get("message_id")
        self.changed.set()

    def _on_chunk(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        if stream.first_chunk is None:
            stream.first_chunk = now
        content = data.get("content") or ""
        if data.get("offset") != stream.length:
            stream.gaps.append((stream.length, data.get("offset")))  # type: ignore[arg-type]
        stream.parts.append(content)
        stream.length += len(content)
        stream.chunks += 1
        self.changed.set()

    def _on_done(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        stream.done = now
        result = data.get("result")
        stream.value = result.get("value") if isinstance(result, dict) else None
        self.changed.set()

    def _on_error(self, data: dict[str, Any]) -> None:
        self._stream(data).error = str(data.get("error"))
        self.changed.set()

    def _other(self, event: str, data: Any) -> None:
        self.other_errors.append((event, data))
        self.changed.set()

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnected = time.perf_counter()
        self.changed.set()

    # --- actions --------------------------------------------------------------------------------

    async def connect(self, url: str, token: str, timeout: float = 10.0) -> ChatSocket:
        await asyncio.wait_for(
            self.client.connect(
                url,
                namespaces=[NAMESPACE],
                auth={"token": token},
                transports=["websocket"],
                wait_timeout=timeout,
            ),
            timeout + 5,
        )
        return self

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        return await self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)

    async def wait(self, predicate: Callable[[], T | None], timeout: float) -> T:
        """The first truthy ``predicate()``, re-checked after every event; TimeoutError after
        ``timeout`` seconds."""

        async def loop() -> T:
            while True:
                found = predicate()
                if found:
                    return found
                if self.disconnected is not None:
                    raise ConnectionError("the server closed the connection")
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    def answer_of(self, task_id: int, message_id: int | None = None) -> Stream | None:
        for stream in self.streams.values():
            if stream.task_id == task_id and (message_id is None or stream.message_id == message_id):
                return stream
        return None

    async def finished(
        self, task_id: int, message_id: int | None = None, timeout: float = 30.0, after_error: float = 2.0
    ) -> Stream:
        """The answer of ``task_id`` (the one with ``message_id`` if given) once chat:done came,
        or ``after_error`` seconds after a chat:error that no chat:done followed."""

        def ended() -> Stream | None:
            stream = self.answer_of(task_id, message_id)
            if stream is not None and (stream.done is not None or stream.error is not None):
                return stream
            return None

        stream = await self.wait(ended, timeout)
        if stream.done is None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await self.wait(lambda: stream.done is not None, after_error)
        return stream

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.disconnect(), 10)
        except (TimeoutError, OSError):
            pass


class IdleSocket:
    """A bare WebSocket joined to ``/chat`` that answers Engine.IO pings and nothing else."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.closed = False
        self.task = asyncio.create_task(self._keepalive())

    @classmethod
    async def open(cls, ws_url: str, token: str, timeout: float = 15.0, deflate: bool = False) -> IdleSocket:
        ws = await connect(
            ws_url,
            open_timeout=timeout,
            ping_interval=None,  # Engine.IO has its own heartbeat: the server pings, we answer
            compression="deflate" if deflate else None,
            max_queue=4,
        )
        try:
            opening = await asyncio.wait_for(ws.recv(), timeout)
            if not isinstance(opening, str) or not opening.startswith("0"):
                raise ConnectionError(f"unexpected open packet {opening!r:.100}")
            await ws.send(f"40{NAMESPACE},{json.dumps({'token': token})}")
            while True:
                frame = await asyncio.wait_for(ws.recv(), timeout)
                if frame == "2":
                    await ws.send("3")
                elif isinstance(frame, str) and frame.startswith(f"40{NAMESPACE},"):
                    return cls(ws)
                elif isinstance(frame, str) and frame.startswith(f"44{NAMESPACE},"):
                    raise ConnectionError(f"namespace refused: {frame[len(NAMESPACE) + 3 :]}")
        except BaseException:
            await ws.close()
            raise

    async def _keepalive(self) -> None:
        try:
            async for frame in self.ws:
                if frame == "2":
                    await self.ws.send("3")
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 10)
        except (TimeoutError, OSError):
            pass
        self.task.cancel()

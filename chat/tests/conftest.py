"""Fixtures for chat tests: the fake LLM over HTTP, a team whose model points at it, and a real
Socket.IO client (python-socketio) against the live server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from accounts.services.tokens import issue_access_token
from chat.tests.fake_llm import FakeLLMServer
from kinds.tests.conftest import bot_doc, bot_stack, ghost_doc, make_kind, shell_doc, team_doc  # noqa: F401
from tasks.tests.conftest import make_task, team  # noqa: F401


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def model_doc_for(server: FakeLLMServer, name: str, model_id: str, api_key: str = "sk-fake-test-key") -> dict:
    return {
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelConfig": {
                "env": {
                    "model": "openai",
                    "model_id": model_id,
                    "api_key": api_key,
                    "base_url": server.openai_base_url,
                }
            },
            "protocol": "openai",
        },
    }


@pytest.fixture
def chat_team(make_kind, fake_llm):  # type: ignore[no-untyped-def]  # noqa: F811
    """chat_team(owner, model_id="fake-n5", prefix="c", mode="solo") -> the Team row."""

    def _make(owner, model_id: str = "fake-n5", prefix: str = "c", mode: str = "solo", **model: Any):  # type: ignore[no-untyped-def]
        make_kind(owner, ghost_doc(f"{prefix}-ghost", "You are a test bot."))
        make_kind(owner, shell_doc(f"{prefix}-shell"))
        make_kind(owner, model_doc_for(fake_llm, f"{prefix}-model", model_id, **model))
        make_kind(owner, bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model"))
        return make_kind(owner, team_doc(f"{prefix}-team", [f"{prefix}-bot"], mode=mode))

    return _make


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
)


async def connect(url: str, user: Any = None, *, token: str | None = None) -> Recorder:
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder(client)
    for event in EVENTS:
        client.on(event, lambda data, event=event: recorder.record(event, data), namespace="/chat")
    auth = {"token": token if token is not None else issue_access_token(user)}
    await client.connect(url, namespaces=["/chat"], auth=auth, transports=["websocket"], wait_timeout=10)
    return recorder

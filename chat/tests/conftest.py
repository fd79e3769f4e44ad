"""Fixtures for chat tests: the fake LLM over HTTP and a team whose model points at it (rows:
``chat.tests.factories``; the Socket.IO client: ``chat.tests.sockets``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chat.tests.factories import make_chat_team
from chat.tests.fake_llm import FakeLLMServer
from kinds.models import Kind


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def chat_team(fake_llm: FakeLLMServer) -> Callable[..., Kind]:
    """chat_team(owner, model_id="fake-n5", prefix="c", mode="solo") -> the Team row."""

    def _make(
        owner: Any, model_id: str = "fake-n5", prefix: str = "c", mode: str = "solo", **model: Any
    ) -> Kind:
        return make_chat_team(owner, fake_llm, model_id, prefix, mode, **model)

    return _make

"""The fake LLM over HTTP and a team whose model points at it (rows from chat's factories)."""

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
    """chat_team(owner, model_id) -> a solo Team row whose model is the fake LLM."""

    def _make(owner: Any, model_id: str = "fake-n5", prefix: str = "c") -> Kind:
        return make_chat_team(owner, fake_llm, model_id, prefix)

    return _make

"""Fixtures of subscription tests: a fake LLM over HTTP and a chat team talking to it (rows
from ``chat.tests.factories``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import User
from chat.tests.factories import make_chat_team
from chat.tests.fake_llm import FakeLLMServer
from kinds.models import Kind


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def chat_team(fake_llm: FakeLLMServer, user: User) -> Kind:
    """alice's chat team whose model answers with five words."""
    return make_chat_team(user, fake_llm, "fake-n5", "s")

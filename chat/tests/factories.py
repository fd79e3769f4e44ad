"""Chat rows for tests: a Model pointing at the fake LLM, and a team that talks to it."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from chat.tests.fake_llm import FakeLLMServer
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc


def model_doc_for(server: FakeLLMServer, name: str, model_id: str, api_key: str = "sk-fake-test-key") -> dict:
    return model_doc(name, api_key, model_id=model_id, base_url=server.openai_base_url)


def make_chat_team(
    owner: User,
    server: FakeLLMServer,
    model_id: str = "fake-n5",
    prefix: str = "c",
    mode: str = "solo",
    **model: Any,
) -> Kind:
    """A ghost, shell, model (at ``server``), bot and team of ``owner``; returns the Team row."""
    make_kind(owner, ghost_doc(f"{prefix}-ghost", "You are a test bot."))
    make_kind(owner, shell_doc(f"{prefix}-shell"))
    make_kind(owner, model_doc_for(server, f"{prefix}-model", model_id, **model))
    make_kind(owner, bot_doc(f"{prefix}-bot", f"{prefix}-ghost", f"{prefix}-shell", f"{prefix}-model"))
    return make_kind(owner, team_doc(f"{prefix}-team", [f"{prefix}-bot"], mode=mode))

"""A Model whose key is stored under the provider's own env name (ClaudeCode style): chat calls
the provider test-connection checks, with the same key, at that provider's URL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat import config
from chat.providers.anthropic_messages import AnthropicMessagesProvider
from chat.providers.common import aclose_http_client
from chat.providers.select import provider_for, stream
from chat.tests.fake_llm import FakeLLMServer, answer
from kinds.tests.factories import bot_doc, ghost_doc, shell_doc, team_doc

pytestmark = pytest.mark.django_db

ANTHROPIC_KEY = "sk-ant-stored-key-0042"


def claude_team(make_kind: Any, owner: Any, **env: str) -> Any:
    model = {
        "kind": "Model",
        "metadata": {"name": "claude-model"},
        "spec": {
            "modelConfig": {
                "env": {"model": "claude", "model_id": "fake-n3", "ANTHROPIC_API_KEY": ANTHROPIC_KEY, **env}
            }
        },
    }
    make_kind(owner, ghost_doc("claude-ghost", "You are a test bot."))
    make_kind(owner, shell_doc("claude-shell"))
    make_kind(owner, model)
    make_kind(owner, bot_doc("claude-bot", "claude-ghost", "claude-shell", "claude-model"))
    return make_kind(owner, team_doc("claude-team", ["claude-bot"]))


def streamed(model: Any) -> str:
    async def go() -> str:
        try:
            items = [delta async for delta in stream(model, "", [{"role": "user", "content": "hi"}])]
            return "".join(item for item in items if isinstance(item, str))
        finally:
            await aclose_http_client()

    return asyncio.run(go())


def test_chat_uses_the_key_and_url_test_connection_uses(api, user, make_kind, fake_llm: FakeLLMServer):
    team = claude_team(make_kind, user, ANTHROPIC_BASE_URL=fake_llm.anthropic_base_url)
    shown = api.get("/api/models/unified/claude-model").json()["config"]["env"]["ANTHROPIC_API_KEY"]
    checked = api.post(
        "/api/models/test-connection",
        {"provider_type": "anthropic", "model_id": "fake-n3", "api_key": shown, "model_name": "claude-model"},
        format="json",
    )
    assert checked.json() == {"success": True, "message": "Successfully connected to fake-n3"}

    model = config.resolve(None, team, user).model
    assert (model.api_key, model.base_url) == (ANTHROPIC_KEY, fake_llm.anthropic_base_url)
    fake_llm.clear()
    assert streamed(model) == answer(3)
    sent = fake_llm.requests[-1]
    assert sent.path == "/v1/messages"
    assert ANTHROPIC_KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])


def test_an_anthropic_model_without_a_base_url_goes_to_anthropic(user, make_kind):
    model = config.resolve(None, claude_team(make_kind, user), user).model

    assert model.base_url == "https://api.anthropic.com"
    assert model.api_key == ANTHROPIC_KEY
    assert type(provider_for(model)) is AnthropicMessagesProvider

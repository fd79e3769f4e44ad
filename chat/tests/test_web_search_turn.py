"""Web search end to end: the real ASGI app on loopback, the real python-socketio client, the
fake LLM asking for ``web_search`` and a real loopback search engine; the answer carries the
results. Off by default, and offered only when the message asks for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chat import protocol
from chat.services import sending
from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.fake_search import FakeSearchEngine, engine_config
from chat.tests.sockets import connect
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc, team_doc
from tasks.models import Subtask
from wegent.tests.helpers import free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CALL = "@call web_search " + json.dumps({"query": "wegent", "max_results": 2}) + "\nGo"


@pytest.fixture
def engine(settings: Any) -> Iterator[FakeSearchEngine]:
    with FakeSearchEngine() as server:
        settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
        settings.WEB_SEARCH_ENABLED = True
        settings.WEB_SEARCH_ENGINES = json.dumps(
            {"fake": engine_config(server.base), "down": {"base_url": f"http://127.0.0.1:{free_port()}/s"}}
        )
        yield server


def make_team(owner: Any, llm: FakeLLMServer, model_id: str = "fake-tools-n3") -> Any:
    make_kind(owner, ghost_doc("w-ghost", "You are a test bot."))
    make_kind(owner, shell_doc("w-shell"))
    make_kind(owner, model_doc_for(llm, "w-model", model_id))
    make_kind(owner, bot_doc("w-bot", "w-ghost", "w-shell", "w-model"))
    return make_kind(owner, team_doc("w-team", ["w-bot"]))


def send_and_finish(url: str, user: Any, team: Any, **extra: Any) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        client = await connect(url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": CALL, **extra})
        assert "task_id" in ack, ack
        done = await client.wait_for("chat:done", timeout=30)
        await client.close()
        return done["result"]

    return asyncio.run(scenario())


def offered_tools(llm: FakeLLMServer) -> list[list[str]]:
    """The tool names each model request declared."""
    return [
        [t.get("function", t).get("name") for t in (r.body or {}).get("tools") or []]
        for r in llm.requests
        if isinstance(r.body, dict)
    ]


def tool_steps(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["details"] for s in result.get("thinking", []) if s["details"].get("tool_name") == "web_search"]


def test_the_model_searches_the_web_and_answers_with_the_results(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine
) -> None:
    team = make_team(user, fake_llm)
    result = send_and_finish(live_server_url, user, team, enable_web_search=True)
    value = result["value"]
    assert value.startswith("Tool results: Results for 'wegent' (Fake Search):\n1. Result 1 about wegent")
    assert "https://example.org/2\n   Snippet 2" in value and "Result 3" not in value
    assert value.endswith("w0 w1 w2")
    assert [(d["type"], d["status"]) for d in tool_steps(result)] == [
        ("tool_use", "started"),
        ("tool_result", "completed"),
    ]
    assert [r.params["q"] for r in engine.requests] == ["wegent"]
    assert offered_tools(fake_llm)[0] == ["web_search"]
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_the_message_picks_the_engine_and_a_down_one_is_a_tool_error(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine
) -> None:
    team = make_team(user, fake_llm)
    result = send_and_finish(live_server_url, user, team, enable_web_search=True, search_engine="down")
    steps = tool_steps(result)
    assert steps[-1]["type"] == "tool_result" and "cannot be reached" in steps[-1]["error"]
    assert "cannot be reached" in result["value"] and result["value"].endswith("w0 w1 w2")
    assert engine.requests == []
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_an_engine_on_a_loopback_address_not_allow_listed_is_refused(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = []
    team = make_team(user, fake_llm)
    result = send_and_finish(live_server_url, user, team, enable_web_search=True)
    steps = tool_steps(result)
    assert steps[-1]["type"] == "tool_result" and "loopback" in steps[-1]["error"]
    assert result["value"].endswith("w0 w1 w2")
    assert engine.requests == []
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_not_offered_when_the_message_did_not_ask(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine
) -> None:
    team = make_team(user, fake_llm)
    result = send_and_finish(live_server_url, user, team)
    assert all("web_search" not in names for names in offered_tools(fake_llm))
    assert engine.requests == []
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED", result


def test_off_by_default_even_when_the_message_asks(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine, settings: Any
) -> None:
    settings.WEB_SEARCH_ENABLED = False
    team = make_team(user, fake_llm)
    result = send_and_finish(live_server_url, user, team, enable_web_search=True)
    assert all("web_search" not in names for names in offered_tools(fake_llm))
    assert engine.requests == []
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED", result


def test_a_message_asking_for_web_search_does_not_open_the_model_stream_early(
    user: Any, fake_llm: FakeLLMServer, engine: FakeSearchEngine, settings: Any
) -> None:
    """The early model stream declares no tools: a message that will get ``web_search`` must
    wait for its toolbox (discarding an early stream for it is what the runner avoids)."""
    team = make_team(user, fake_llm)

    def early(**extra: Any) -> bool:
        payload = protocol.ChatSend(team_id=team.pk, message="Go", **extra)
        plan = sending.plan_send(user, payload)
        assert isinstance(plan, sending.SendPlan)
        return plan.early_setup is not None

    assert early() and early(enable_web_search=False)
    assert not early(enable_web_search=True)
    settings.WEB_SEARCH_ENABLED = False  # the flag alone opens no tool: the early start stays
    assert early(enable_web_search=True)

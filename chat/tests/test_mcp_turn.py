"""An MCP tool end to end: the real ASGI app on loopback, the real python-socketio client, the
fake LLM asking for a tool of the Ghost's MCP server (the real loopback MCP server), and the
answer carrying what the server returned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.fake_mcp import FakeMCPServer
from chat.tests.sockets import Recorder, connect
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc, team_doc
from tasks.models import Subtask
from wegent.tests.helpers import free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mcp_server(settings: Any) -> Iterator[FakeMCPServer]:
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 5.0
    with FakeMCPServer() as server:
        yield server


def make_team(
    owner: Any, llm: FakeLLMServer, servers: dict[str, Any], model_id: str = "fake-tools-n3"
) -> Any:
    make_kind(owner, ghost_doc("m-ghost", "You are a test bot.", mcpServers=servers))
    make_kind(owner, shell_doc("m-shell"))
    make_kind(owner, model_doc_for(llm, "m-model", model_id))
    make_kind(owner, bot_doc("m-bot", "m-ghost", "m-shell", "m-model"))
    return make_kind(owner, team_doc("m-team", ["m-bot"]))


def send_and_finish(url: str, user: Any, team: Any, message: str) -> tuple[Recorder, dict[str, Any]]:
    async def scenario() -> tuple[Recorder, dict[str, Any]]:
        client = await connect(url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": message})
        assert "task_id" in ack, ack
        done = await client.wait_for("chat:done", timeout=30)
        await client.close()
        return client, done

    return asyncio.run(scenario())


def test_the_model_calls_an_mcp_tool_and_reads_its_answer(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, mcp_server: FakeMCPServer
) -> None:
    servers = {
        "fake": {
            "type": "streamable-http",
            "url": mcp_server.streamable_url,
            "headers": {"X-User": "${{user.name}}"},
        },
        "down": {"type": "sse", "url": f"http://127.0.0.1:{free_port()}/sse"},
    }
    team = make_team(user, fake_llm, servers)
    args = json.dumps({"text": "from the model", "times": 2})
    _, done = send_and_finish(live_server_url, user, team, f"@call echo {args}\nGo")
    result = done["result"]
    # The model saw the MCP server's answer (only the tool result carries it).
    assert "Tool results: echo: from the model echo: from the model" in result["value"]
    assert result["value"].endswith("w0 w1 w2")
    tool_steps = [s["details"] for s in result["thinking"] if s["details"].get("tool_name") == "echo"]
    assert [(d["type"], d["status"]) for d in tool_steps] == [
        ("tool_use", "started"),
        ("tool_result", "completed"),
    ]
    # The server that is down is told, and the turn still answered.
    down = [s for s in result["thinking"] if s["details"].get("tool_name") == "mcp:down"]
    assert down and "cannot connect" in down[0]["details"]["error"]
    # The placeholder reached the server, and the session ended with the turn.
    assert user.user_name in [h.get("x-user") for h in mcp_server.headers_for("/mcp")]
    assert mcp_server.wait_ended(1)
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_an_mcp_url_to_a_private_address_is_refused_and_the_turn_answers(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, mcp_server: FakeMCPServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWLIST = []
    team = make_team(
        user, fake_llm, {"local": {"type": "streamable-http", "url": mcp_server.streamable_url}}, "fake-n3"
    )
    _, done = send_and_finish(live_server_url, user, team, "Go")
    result = done["result"]
    refused = [s for s in result["thinking"] if s["details"].get("tool_name") == "mcp:local"]
    assert refused and "loopback" in refused[0]["details"]["error"]
    assert result["value"] == "w0 w1 w2"
    assert mcp_server.requests == []
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_a_turn_whose_only_mcp_server_is_down_still_shows_the_problem(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer, mcp_server: FakeMCPServer
) -> None:
    """No tool opened and the model answered nothing: the failed source still reaches the user
    with the answer (it was dropped when the answer had no text block of its own)."""
    down = {"down": {"type": "sse", "url": f"http://127.0.0.1:{free_port()}/sse"}}
    team = make_team(user, fake_llm, down, "fake-n0")
    _, done = send_and_finish(live_server_url, user, team, "Go")
    result = done["result"]
    steps = [s["details"] for s in result.get("thinking", []) if s["details"].get("tool_name") == "mcp:down"]
    assert steps and "cannot connect" in steps[0]["error"]
    saved = Subtask.objects.get(role="ASSISTANT")
    assert saved.status == "COMPLETED" and saved.result["thinking"] == result["thinking"]

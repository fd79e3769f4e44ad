"""Skills end to end: the real ASGI app on loopback, the real python-socketio client and the
fake LLM. The model calls ``load_skill`` through the tool loop and answers with the skill's
SKILL.md text it received; a preloaded skill's instructions reach the model in the system prompt;
a ``load_skill`` call naming a skill the turn does not have is an error the model reads, and the
turn still answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import connect
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, make_skill, shell_doc, team_doc
from tasks.models import Subtask

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def make_team(owner: Any, llm: FakeLLMServer, **ghost_spec: Any) -> Any:
    make_kind(owner, ghost_doc("s-ghost", "You are a test bot.", **ghost_spec))
    make_kind(owner, shell_doc("s-shell"))
    make_kind(owner, model_doc_for(llm, "s-model", "fake-tools-n3"))
    make_kind(owner, bot_doc("s-bot", "s-ghost", "s-shell", "s-model"))
    return make_kind(owner, team_doc("s-team", ["s-bot"]))


def send_and_finish(url: str, user: Any, team: Any, message: str) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        client = await connect(url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": message})
        assert "task_id" in ack, ack
        done = await client.wait_for("chat:done", timeout=30)
        await client.close()
        return done

    return asyncio.run(scenario())


def test_the_model_loads_a_skill_and_preloaded_instructions_reach_it(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer
) -> None:
    make_skill(user, "pdf", body="Split the PDF page by page before reading.")
    make_skill(user, "style", body="Always answer in haiku form.")
    team = make_team(user, fake_llm, skills=["pdf"], preload_skills=["style"])
    call = json.dumps({"skill_name": "pdf"})
    done = send_and_finish(live_server_url, user, team, f"@call load_skill {call}\nGo")
    value = done["result"]["value"]
    # Only the tool result carries the SKILL.md body: the model really read it.
    assert "Split the PDF page by page before reading." in value
    assert value.endswith("w0 w1 w2")
    steps = [
        s["details"] for s in done["result"]["thinking"] if s["details"].get("tool_name") == "load_skill"
    ]
    assert [(d["type"], d["status"]) for d in steps] == [
        ("tool_use", "started"),
        ("tool_result", "completed"),
    ]
    # The preloaded skill's instructions were in what the model was sent, on every call.
    model_calls = [r for r in fake_llm.requests if r.method == "POST"]
    assert model_calls and all("Always answer in haiku form." in json.dumps(r.body) for r in model_calls)
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


def test_loading_a_skill_the_turn_does_not_have_is_an_error_the_model_reads(
    live_server_url: str, user: Any, fake_llm: FakeLLMServer
) -> None:
    make_skill(user, "pdf")
    team = make_team(user, fake_llm, skills=["pdf"])
    call = json.dumps({"skill_name": "excel"})
    done = send_and_finish(live_server_url, user, team, f"@call load_skill {call}\nGo")
    result = done["result"]
    failed = [s["details"] for s in result["thinking"] if s["details"].get("type") == "tool_result"]
    assert failed and failed[0]["status"] == "failed" and "Unknown skill 'excel'" in failed[0]["error"]
    # The model asked for a skill the turn does not have: it read the error and still answered.
    assert "Unknown skill 'excel'" in result["value"]
    assert result["value"].endswith("w0 w1 w2")
    assert Subtask.objects.get(role="ASSISTANT").status == "COMPLETED"


@pytest.mark.parametrize(
    "ghost_spec, mcp_enabled",
    [({"preload_skills": ["style"]}, False), ({"skills": ["style"]}, False), ({}, True)],
)
def test_a_turn_that_will_have_tools_does_not_open_the_model_stream_early(
    user: Any, fake_llm: FakeLLMServer, settings: Any, ghost_spec: dict[str, Any], mcp_enabled: bool
) -> None:
    """The early model stream declares no tools; a turn whose sources will add some (preloaded
    skills alone, the operator's MCP servers) waits for its toolbox instead of discarding it."""
    from chat import protocol
    from chat.services import sending

    make_skill(user, "style", body="Be brief.")
    settings.CHAT_MCP_ENABLED = mcp_enabled
    team = make_team(user, fake_llm, **ghost_spec)
    plan = sending.plan_send(user, protocol.ChatSend(team_id=team.pk, message="Go"))
    assert isinstance(plan, sending.SendPlan) and plan.early_setup is None
    settings.CHAT_MCP_ENABLED = False
    plain = make_kind(user, team_doc("plain-team", ["s-bot"]))
    if not ghost_spec:  # the same team without the operator's servers starts early
        plan = sending.plan_send(user, protocol.ChatSend(team_id=plain.pk, message="Go"))
        assert plan.early_setup is not None

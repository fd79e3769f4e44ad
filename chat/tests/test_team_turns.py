"""Multi-bot teams end to end: the real ASGI app on loopback, the real python-socketio client and
the fake LLM, one Model per member (the model id tells members' answers apart: ``fake-n3``
answers "w0 w1 w2"), so what a member read is checked in the request the fake LLM received.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from accounts.services.tokens import issue_access_token
from chat.tests.factories import model_doc_for
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import Recorder, connect
from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, make_kind, shell_doc
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def member_bot(owner: Any, llm: FakeLLMServer, name: str, model_id: str) -> str:
    make_kind(owner, ghost_doc(f"{name}-ghost", f"You are {name}."))
    make_kind(owner, shell_doc(f"{name}-shell"))
    make_kind(owner, model_doc_for(llm, f"{name}-model", model_id))
    make_kind(owner, bot_doc(f"{name}-bot", f"{name}-ghost", f"{name}-shell", f"{name}-model"))
    return f"{name}-bot"


def make_team(
    owner: Any, llm: FakeLLMServer, mode: str, members: list[tuple[str, str, dict[str, Any]]]
) -> Kind:
    """``members``: (name, model id, member fields such as role/requireConfirmation/prompt)."""
    entries = []
    for name, model_id, fields in members:
        bot = member_bot(owner, llm, name, model_id)
        entries.append({"botRef": {"name": bot, "namespace": "default"}, "prompt": "", "role": "", **fields})
    document = {
        "kind": "Team",
        "metadata": {"name": f"{mode}-team"},
        "spec": {"members": entries, "collaborationModel": mode, "bind_mode": ["chat"]},
    }
    return make_kind(owner, document)


def answers(task_id: int) -> list[Subtask]:
    return list(Subtask.objects.filter(task_id=task_id, role="ASSISTANT").order_by("message_id"))


def bot_names(rows: list[Subtask]) -> list[list[str]]:
    names = dict(Kind.objects.filter(kind="Bot").values_list("pk", "name"))
    return [[names[i] for i in row.bot_ids] for row in rows]


def requests_of(llm: FakeLLMServer, model_id: str) -> list[dict[str, Any]]:
    return [r.body for r in llm.requests if isinstance(r.body, dict) and r.body.get("model") == model_id]


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    content = users[-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def done_for(client: Recorder, subtask_id: int) -> dict[str, Any] | None:
    return next((d for d in client.named("chat:done") if d["subtask_id"] == subtask_id), None)


async def send(client: Recorder, team: Kind, message: str, **payload: Any) -> dict[str, Any]:
    ack = await client.call("chat:send", {"team_id": team.pk, "message": message, **payload})
    assert "task_id" in ack, ack
    return ack


def statuses_sent(client: Recorder, task_id: int) -> list[str]:
    return [s["status"] for s in client.named("task:status") if s.get("task_id") == task_id]


def set_model_id(name: str, model_id: str) -> None:
    model = Kind.objects.get(kind="Model", name=name)
    document = model.document
    document["spec"]["modelConfig"]["env"]["model_id"] = model_id
    Kind.objects.filter(pk=model.pk).update(document=document)


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


# --- pipeline ------------------------------------------------------------------------------------


def test_pipeline_stages_answer_in_order_each_reading_the_previous_output(live_server_url, user, fake_llm):
    team = make_team(user, fake_llm, "pipeline", [("a", "fake-n3", {}), ("b", "fake-n2", {})])

    async def scenario() -> tuple[Recorder, int]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Write a plan")
        done = await client.wait_for("chat:done", lambda d: d["result"].get("value") == "w0 w1", timeout=30)
        await client.wait_for("task:status", lambda s: s["status"] == "COMPLETED", timeout=10)
        # chat:bot_complete goes to the user's room after chat:done (another delivery path).
        await client.wait_for("chat:bot_complete", lambda c: c["subtask_id"] == done["subtask_id"])
        await client.close()
        return client, ack["task_id"]

    client, task_id = run(scenario)
    rows = answers(task_id)
    assert bot_names(rows) == [["a-bot"], ["b-bot"]]
    assert [r.status for r in rows] == ["COMPLETED", "COMPLETED"]
    assert [r.result["value"] for r in rows] == ["w0 w1 w2", "w0 w1"]
    # Each stage streamed as its own message under its bot's name, and closed with bot_complete.
    assert [(s["subtask_id"], s["bot_name"]) for s in client.named("chat:start")] == [
        (rows[0].pk, "a-bot"),
        (rows[1].pk, "b-bot"),
    ]
    assert [c["subtask_id"] for c in client.named("chat:bot_complete")] == [rows[0].pk, rows[1].pk]
    # Stage b read the user's message and stage a's output as its input.
    second = last_user_text(requests_of(fake_llm, "fake-n2")[0])
    assert "Write a plan" in second and "w0 w1 w2" in second
    assert rows[1].prompt == "w0 w1 w2"
    # The task never looked finished between the stages.
    assert statuses_sent(client, task_id)[-1] == "COMPLETED"
    assert statuses_sent(client, task_id).count("COMPLETED") == 1
    assert TaskResource.objects.get(pk=task_id).status == "COMPLETED"


def test_a_stage_that_needs_confirmation_waits_and_confirm_stage_runs_the_next(
    live_server_url, user, fake_llm
):
    team = make_team(
        user, fake_llm, "pipeline", [("a", "fake-n3", {"requireConfirmation": True}), ("b", "fake-n2", {})]
    )
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}

    async def scenario() -> tuple[Recorder, int, dict[str, Any], dict[str, Any]]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Write a spec")
        task_id = ack["task_id"]
        await client.wait_for("task:status", lambda s: s["status"] == "PENDING_CONFIRMATION", timeout=30)
        async with httpx.AsyncClient(base_url=live_server_url, headers=headers) as http:
            info = (await http.get(f"/api/tasks/{task_id}/pipeline-stage-info")).json()
            confirmed = await http.post(
                f"/api/tasks/{task_id}/confirm-stage",
                json={"confirmed_prompt": "the edited spec", "action": "continue"},
            )
        assert confirmed.status_code == 200, confirmed.text
        await client.wait_for("chat:done", lambda d: d.get("result", {}).get("value") == "w0 w1", timeout=30)
        await client.wait_for("task:status", lambda s: s["status"] == "COMPLETED", timeout=10)
        await client.close()
        return client, task_id, info, confirmed.json()

    client, task_id, info, confirmed = run(scenario)
    assert info["is_pending_confirmation"] is True and info["current_stage"] == 0
    assert info["stages"][0]["status"] == "pending_confirmation"
    assert confirmed["current_stage"] == 1 and confirmed["next_stage_name"] == "b-bot"
    rows = answers(task_id)
    assert bot_names(rows) == [["a-bot"], ["b-bot"]]
    assert [r.status for r in rows] == ["COMPLETED", "COMPLETED"]
    # The next stage read the confirmed text, not stage a's own output.
    second = last_user_text(requests_of(fake_llm, "fake-n2")[0])
    assert "the edited spec" in second and "w0 w1 w2" not in second
    assert [s["bot_name"] for s in client.named("chat:start")] == ["a-bot", "b-bot"]


def test_cancelling_a_stage_ends_the_pipeline_there(live_server_url, user, fake_llm):
    team = make_team(user, fake_llm, "pipeline", [("a", "fake-n200-d20", {}), ("b", "fake-n2", {})])

    async def scenario() -> int:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Go")
        first = await client.wait_for("chat:chunk", timeout=30)
        await client.call("chat:cancel", {"subtask_id": first["subtask_id"]})
        await client.wait_for("chat:cancelled", timeout=10)
        await client.wait_for("task:status", lambda s: s["status"] == "CANCELLED", timeout=10)
        await client.close()
        return ack["task_id"]

    task_id = run(scenario)
    rows = answers(task_id)
    assert [r.status for r in rows] == ["CANCELLED"]
    assert not requests_of(fake_llm, "fake-n2")


def test_a_failed_stage_retried_goes_on_with_the_pipeline(live_server_url, user, fake_llm):
    team = make_team(
        user, fake_llm, "pipeline", [("a", "fake-n3", {}), ("b", "fake-error-500", {}), ("c", "fake-n4", {})]
    )

    async def scenario() -> int:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Go")
        error = await client.wait_for("chat:error", timeout=30)
        # The operator fixes stage b's model; the user retries the failed stage.
        await asyncio.to_thread(set_model_id, "b-model", "fake-n2")
        retried = await client.call(
            "chat:retry", {"task_id": ack["task_id"], "subtask_id": error["subtask_id"]}
        )
        assert retried == {"success": True}, retried
        await client.wait_for(
            "chat:done", lambda d: d.get("result", {}).get("value") == "w0 w1 w2 w3", timeout=30
        )
        await client.close()
        return ack["task_id"]

    task_id = run(scenario)
    rows = answers(task_id)
    assert bot_names(rows) == [["a-bot"], ["b-bot"], ["c-bot"]]
    assert [r.status for r in rows] == ["COMPLETED", "COMPLETED", "COMPLETED"]
    # The retried stage read stage a's output again; stage c read stage b's.
    assert "w0 w1 w2" in last_user_text(requests_of(fake_llm, "fake-n2")[0])
    assert "w0 w1" in last_user_text(requests_of(fake_llm, "fake-n4")[0])


# --- route ----------------------------------------------------------------------------------------


def test_route_the_leader_picks_the_member_that_answers(live_server_url, user, fake_llm):
    team = make_team(
        user,
        fake_llm,
        "route",
        [
            ("lead", "fake-tools-n2", {"role": "leader"}),
            ("x", "fake-n3", {"prompt": "Maths"}),
            ("y", "fake-n4", {}),
        ],
    )

    async def scenario() -> tuple[Recorder, int, dict[str, Any]]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, 'Who knows?\n@call route_to_member {"member": "y-bot"}')
        done = await client.wait_for("chat:done", timeout=30)
        await client.close()
        return client, ack["task_id"], done

    client, task_id, done = run(scenario)
    rows = answers(task_id)
    assert bot_names(rows) == [["y-bot"]]
    assert done["result"]["value"] == rows[0].result["value"] == "w0 w1 w2 w3"
    assert [s["bot_name"] for s in client.named("chat:start")] == ["y-bot"]
    # The leader was offered the members by name (with their prompts) and chose through the tool.
    leader = requests_of(fake_llm, "fake-tools-n2")[0]
    assert [t["function"]["name"] for t in leader["tools"]] == ["route_to_member"]
    assert leader["tools"][0]["function"]["parameters"]["properties"]["member"]["enum"] == ["x-bot", "y-bot"]
    assert "x-bot: Maths" in leader["messages"][0]["content"]
    assert not requests_of(fake_llm, "fake-n3")


def test_route_without_a_choice_falls_back_to_the_first_member_and_says_so(live_server_url, user, fake_llm):
    team = make_team(
        user,
        fake_llm,
        "route",
        [("lead", "fake-n2", {"role": "leader"}), ("x", "fake-n3", {}), ("y", "fake-n4", {})],
    )

    async def scenario() -> dict[str, Any]:
        client = await connect(live_server_url, user)
        await send(client, team, "Anyone?")
        done = await client.wait_for("chat:done", timeout=30)
        await client.close()
        return done

    done = run(scenario)
    assert done["result"]["value"] == "w0 w1 w2"
    problem = [s for s in done["result"]["thinking"] if s["details"]["tool_name"] == "route"]
    assert problem and "x-bot answers" in problem[0]["details"]["error"]


# --- coordinate ---------------------------------------------------------------------------------


def test_coordinate_the_leader_asks_a_member_and_composes_the_answer(live_server_url, user, fake_llm):
    team = make_team(
        user, fake_llm, "coordinate", [("lead", "fake-tools-n2", {"role": "leader"}), ("x", "fake-n3", {})]
    )
    ask = json.dumps({"member": "x-bot", "question": "What is x?"})

    async def scenario() -> tuple[Recorder, int]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, f"Explain x\n@call ask_team_member {ask}")
        await client.wait_for(
            "chat:done", lambda d: "Tool results" in d.get("result", {}).get("value", ""), timeout=30
        )
        await client.wait_for("task:status", lambda s: s["status"] == "COMPLETED", timeout=10)
        await client.close()
        return client, ack["task_id"]

    client, task_id = run(scenario)
    leader, member = answers(task_id)
    assert bot_names([leader, member]) == [["lead-bot"], ["x-bot"]]
    assert member.reply_to_subtask_id == leader.pk and member.parent_id == leader.message_id
    assert member.result["value"] == "w0 w1 w2" and member.prompt == "What is x?"
    # The leader read the member's answer as the tool result and composed its own.
    assert leader.result["value"] == "Tool results: w0 w1 w2\nw0 w1"
    assert "What is x?" in last_user_text(requests_of(fake_llm, "fake-n3")[0])
    # Both streamed as their own messages; the member's inside the leader's tool call.
    starts = [s["bot_name"] for s in client.named("chat:start")]
    assert starts == ["lead-bot", "x-bot"]
    assert {d["subtask_id"] for d in client.named("chat:done")} == {leader.pk, member.pk}
    # The task followed the leader, not the member that finished first.
    task = TaskResource.objects.get(pk=task_id)
    assert task.status == "COMPLETED" and task.state["result"]["value"] == leader.result["value"]
    assert statuses_sent(client, task_id).count("COMPLETED") == 1


def test_coordinate_an_unknown_member_is_a_tool_error_the_leader_reads(live_server_url, user, fake_llm):
    team = make_team(
        user, fake_llm, "coordinate", [("lead", "fake-tools-n2", {"role": "leader"}), ("x", "fake-n3", {})]
    )
    ask = json.dumps({"member": "nobody", "question": "?"})

    async def scenario() -> int:
        client = await connect(live_server_url, user)
        ack = await send(client, team, f"Explain\n@call ask_team_member {ask}")
        await client.wait_for("chat:done", timeout=30)
        await client.close()
        return ack["task_id"]

    task_id = run(scenario)
    rows = answers(task_id)
    assert len(rows) == 1 and rows[0].status == "COMPLETED"
    assert "Unknown team member 'nobody' (members: x-bot)" in rows[0].result["value"]


# --- collaborate ----------------------------------------------------------------------------------


def test_collaborate_members_answer_in_turn_seeing_each_other(live_server_url, user, fake_llm):
    team = make_team(
        user, fake_llm, "collaborate", [("a", "fake-n2", {}), ("b", "fake-n3", {}), ("c", "fake-n4", {})]
    )

    async def scenario() -> tuple[Recorder, int, dict[str, Any]]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Discuss")
        done = await client.wait_for(
            "chat:done", lambda d: d.get("result", {}).get("value") == "w0 w1 w2 w3", timeout=30
        )
        await client.wait_for("task:status", lambda s: s["status"] == "COMPLETED", timeout=10)
        await client.wait_for("chat:bot_complete", lambda c: c["subtask_id"] == done["subtask_id"])
        joined = await client.call("task:join", {"task_id": ack["task_id"]})
        await client.close()
        return client, ack["task_id"], joined

    client, task_id, joined = run(scenario)
    rows = answers(task_id)
    assert bot_names(rows) == [["a-bot"], ["b-bot"], ["c-bot"]]
    third = last_user_text(requests_of(fake_llm, "fake-n4")[0])
    assert "[a-bot]: w0 w1" in third and "[b-bot]: w0 w1 w2" in third
    assert "[a-bot]: w0 w1" in last_user_text(requests_of(fake_llm, "fake-n3")[0])
    # task:join shows every member's answer with the bot that gave it.
    shown = [(s["role"], [b["name"] for b in s["bots"]]) for s in joined["subtasks"]]
    assert shown[1:] == [("ASSISTANT", ["a-bot"]), ("ASSISTANT", ["b-bot"]), ("ASSISTANT", ["c-bot"])]
    assert [c["subtask_id"] for c in client.named("chat:bot_complete")] == [r.pk for r in rows]


def test_a_member_without_a_model_fails_its_answer_readably(live_server_url, user, fake_llm):
    team = make_team(user, fake_llm, "collaborate", [("a", "fake-n2", {}), ("b", "fake-n3", {})])
    bot = Kind.objects.get(kind="Bot", name="b-bot")
    document = bot.document
    document["spec"].pop("modelRef")
    Kind.objects.filter(pk=bot.pk).update(document=document)

    async def scenario() -> tuple[int, dict[str, Any]]:
        client = await connect(live_server_url, user)
        ack = await send(client, team, "Discuss")
        error = await client.wait_for("chat:error", timeout=30)
        await client.wait_for("task:status", lambda s: s["status"] == "FAILED", timeout=10)
        await client.close()
        return ack["task_id"], error

    task_id, error = run(scenario)
    rows = answers(task_id)
    assert [r.status for r in rows] == ["COMPLETED", "FAILED"]
    assert error["subtask_id"] == rows[1].pk and "has no model" in error["error"]


# --- answers written outside chat:send ------------------------------------------------------------


def test_a_task_created_over_rest_for_a_chat_team_is_answered(live_server_url, user, fake_llm):
    team = make_team(user, fake_llm, "pipeline", [("a", "fake-n3", {}), ("b", "fake-n2", {})])
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}

    async def scenario() -> int:
        client = await connect(live_server_url, user)  # the owner's room gets task:status
        async with httpx.AsyncClient(base_url=live_server_url, headers=headers) as http:
            created = await http.post("/api/tasks/create", json={"prompt": "Plan it", "team_id": team.pk})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        await client.wait_for(
            "task:status", lambda s: s["task_id"] == task_id and s["status"] == "COMPLETED", timeout=30
        )
        await client.close()
        return task_id

    task_id = run(scenario)
    rows = answers(task_id)
    assert bot_names(rows) == [["a-bot"], ["b-bot"]]
    assert [r.result["value"] for r in rows] == ["w0 w1 w2", "w0 w1"]
    assert "Plan it" in last_user_text(requests_of(fake_llm, "fake-n3")[0])

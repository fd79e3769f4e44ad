"""``/chat`` end to end: the real ASGI app on loopback, the real python-socketio client, the fake
LLM over HTTP, the real database."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import socketio

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def text_of(recorder, subtask_id: int) -> str:  # type: ignore[no-untyped-def]
    chunks = [c for c in recorder.named("chat:chunk") if c["subtask_id"] == subtask_id]
    offset = 0
    for chunk in chunks:
        assert chunk["offset"] == offset, "chunks arrive in order with exact offsets"
        offset += len(chunk["content"])
    return "".join(c["content"] for c in chunks)


def test_first_message_streams_the_answer(live_server_url, user, chat_team, fake_llm):
    team = chat_team(user, "fake-n5-d5")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "Say hi", "title": "greeting"})
        assert set(ack) == {"task_id", "subtask_id", "message_id"} and ack["message_id"] == 1
        done = await client.wait_for("chat:done")
        created = client.named("task:created")[0]
        assert created["task_id"] == ack["task_id"] and created["title"] == "greeting"
        assert created["team_name"] == team.name and created["is_group_chat"] is False
        start = client.named("chat:start")[0]
        assert start["message_id"] == 2 and start["shell_type"] == "Chat"
        names = [name for name, _ in client.events]
        assert names.index("chat:start") < names.index("chat:chunk") < names.index("chat:done")
        assert text_of(client, start["subtask_id"]) == words(5)
        assert done["result"]["value"] == words(5) and done["offset"] == len(words(5))
        assert done["message_id"] == 2 and done["task_id"] == ack["task_id"]
        complete = await client.wait_for("chat:bot_complete")
        assert complete["content"] == words(5)
        statuses = [s["status"] for s in client.named("task:status")]
        assert "RUNNING" in statuses and statuses[-1] == "COMPLETED"
        await client.close()

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "COMPLETED" and answer.result["value"] == words(5)
    task = TaskResource.objects.get(kind="Task")
    assert task.status == "COMPLETED" and task.labels["source"] == "chat_shell"
    # The model got the system prompt and the user's message.
    body = fake_llm.requests[-1].body
    assert body["messages"][0] == {
        "role": "system",
        "content": "<base_prompt>You are a test bot.</base_prompt>",
    }
    assert body["messages"][-1] == {"role": "user", "content": "Say hi"}


def test_follow_up_carries_history_and_join_returns_messages(live_server_url, user, chat_team, fake_llm):
    team = chat_team(user, "fake-n3")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        first = await client.call("chat:send", {"team_id": team.pk, "message": "one"})
        await client.wait_for("chat:done")
        second = await client.call(
            "chat:send", {"team_id": team.pk, "task_id": first["task_id"], "message": "two"}
        )
        assert second["message_id"] == 3
        await client.wait_for("chat:done", lambda d: d["message_id"] == 4)
        joined = await client.call("task:join", {"task_id": first["task_id"]})
        assert joined["streaming"] is None
        assert [(s["role"], s["message_id"]) for s in joined["subtasks"]] == [
            ("USER", 1),
            ("ASSISTANT", 2),
            ("USER", 3),
            ("ASSISTANT", 4),
        ]
        assert joined["subtasks"][1]["bots"][0]["name"] == "c-bot"
        newer = await client.call("task:join", {"task_id": first["task_id"], "after_message_id": 3})
        assert [s["message_id"] for s in newer["subtasks"]] == [4]
        assert newer["subtasks"][0]["result"]["value"] == words(3)
        await client.close()

    asyncio.run(scenario())
    messages = fake_llm.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "one"),
        ("assistant", words(3)),
        ("user", "two"),
    ]


def test_joining_mid_stream_gets_exactly_the_text_so_far(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n40-d20")

    async def scenario() -> None:
        sender = await connect(live_server_url, user)
        ack = await sender.call("chat:send", {"team_id": team.pk, "message": "long one"})
        await sender.wait_for("chat:chunk", lambda c: c["offset"] > 20)
        late = await connect(live_server_url, user)
        joined = await late.call("task:join", {"task_id": ack["task_id"]})
        streaming = joined["streaming"]
        assert streaming is not None and streaming["offset"] == len(streaming["cached_content"]) > 0
        done = await late.wait_for("chat:done")
        # Cached text plus every later chunk (offset at or beyond it) is exactly the answer.
        later = [c for c in late.named("chat:chunk") if c["offset"] >= streaming["offset"]]
        rebuilt = streaming["cached_content"]
        for chunk in later:
            assert chunk["offset"] == len(rebuilt)
            rebuilt += chunk["content"]
        assert rebuilt == done["result"]["value"] == words(40)
        await sender.close()
        await late.close()

    asyncio.run(scenario())


def test_cancel_stops_the_stream_and_keeps_the_partial_text(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n200-d20")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "go on"})
        start = await client.wait_for("chat:start")
        await client.wait_for("chat:chunk")
        reply = await client.call("chat:cancel", {"subtask_id": start["subtask_id"], "shell_type": "Chat"})
        assert reply == {"success": True}
        cancelled = await client.wait_for("chat:cancelled")
        assert cancelled == {"task_id": ack["task_id"], "subtask_id": start["subtask_id"]}
        done = await client.wait_for("chat:done")
        assert done["result"]["cancelled"] is True
        assert done["result"]["value"] == text_of(client, start["subtask_id"])
        await asyncio.sleep(0.3)
        assert len(done["result"]["value"]) < len(words(200))
        again = await client.call("chat:cancel", {"subtask_id": start["subtask_id"]})
        assert again == {"error": "Cannot cancel subtask in CANCELLED state"}
        await client.close()
        return done["result"]["value"]

    partial = asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "CANCELLED" and answer.result["value"] == partial
    assert TaskResource.objects.get(kind="Task").status == "CANCELLED"


def test_rest_cancel_uses_the_same_path(live_server_url, user, chat_team, client_for):
    team = chat_team(user, "fake-n200-d20")
    api = client_for(user)

    async def scenario() -> int:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "go on"})
        await client.wait_for("chat:chunk")
        response = await asyncio.to_thread(api.post, f"/api/tasks/{ack['task_id']}/cancel")
        assert response.json() == {"message": "Chat stopped successfully", "status": "CANCELLED"}
        await client.wait_for("chat:cancelled")
        await client.close()
        return ack["task_id"]

    task_id = asyncio.run(scenario())
    assert Subtask.objects.get(task_id=task_id, role="ASSISTANT").status == "CANCELLED"


def test_provider_errors_end_failed_with_a_readable_message(live_server_url, user, chat_team):
    team = chat_team(user, "fake-error-401", api_key="bad-key")

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "hello"})
        error = await client.wait_for("chat:error")
        closing = await client.wait_for("chat:done")
        assert closing["result"] == {"value": "", "error": error["error"]}
        status = await client.wait_for("task:status", lambda s: s["status"] == "FAILED")
        assert status["completed_at"]
        await client.close()
        return error

    error = asyncio.run(scenario())
    assert "uthenticat" in error["error"] and "bad-key" not in error["error"]
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "FAILED" and answer.error_message == error["error"]


def test_hanging_model_times_out(live_server_url, user, chat_team, settings):
    settings.CHAT_MODEL_TIMEOUT_SECONDS = 1
    team = chat_team(user, "fake-hang")

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "hello"})
        error = await client.wait_for("chat:error", timeout=15)
        await client.close()
        return error

    error = asyncio.run(scenario())
    assert "timed out" in error["error"].lower()
    assert Subtask.objects.get(role="ASSISTANT").status == "FAILED"


def test_missing_model_fails_at_once(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n3")

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        ack = await client.call(
            "chat:send", {"team_id": team.pk, "message": "x", "force_override_bot_model": "no-such-model"}
        )
        assert "task_id" in ack
        error = await client.wait_for("chat:error")
        await client.close()
        return error

    assert asyncio.run(scenario())["error"] == "Model no-such-model not found"


def test_stream_survives_the_client_leaving(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n20-d20")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "keep going"})
        await client.wait_for("chat:chunk")
        await client.close()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if await asyncio.to_thread(
                lambda: Subtask.objects.filter(status="COMPLETED", role="ASSISTANT").exists()
            ):
                return
        raise AssertionError("the answer did not complete")

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").result["value"] == words(20)


def test_auth_on_connect_and_expiry_mid_session(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n2")

    async def scenario() -> None:
        for token, message in (
            ("nonsense", "Invalid or expired token"),
            ("", "Missing authentication token"),
        ):
            client = socketio.AsyncClient(reconnection=False)
            refusals: list[dict] = []
            client.on("connect_error", refusals.append, namespace="/chat")
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(
                    live_server_url,
                    namespaces=["/chat"],
                    auth={"token": token},
                    transports=["websocket"],
                    wait_timeout=5,
                )
            assert refusals == [{"message": message}]
        short = issue_access_token(user, lifetime=dt.timedelta(seconds=2))
        client = await connect(live_server_url, token=short)
        gone = asyncio.Event()
        client.client.on("disconnect", lambda *args: gone.set(), namespace="/chat")
        await asyncio.sleep(2.5)
        # The server answers auth:error and ends the namespace connection (the ack is moot).
        await client.client.emit("chat:send", {"team_id": team.pk, "message": "late"}, namespace="/chat")
        assert await client.wait_for("auth:error") == {"error": "Token expired", "code": "TOKEN_EXPIRED"}
        await asyncio.wait_for(gone.wait(), timeout=5)
        await client.close()

    asyncio.run(scenario())
    assert not Subtask.objects.exists()


def test_other_users_tasks_and_bad_payloads(live_server_url, user, other_user, chat_team):
    team = chat_team(user, "fake-n2")

    async def scenario() -> None:
        alice = await connect(live_server_url, user)
        ack = await alice.call("chat:send", {"team_id": team.pk, "message": "mine"})
        await alice.wait_for("chat:done")
        bob = await connect(live_server_url, other_user)
        assert await bob.call("task:join", {"task_id": ack["task_id"]}) == {"error": "Access denied"}
        assert await bob.call("task:join", {"task_id": -5, "after_message_id": 2}) == {
            "error": "Access denied"
        }
        send = await bob.call("chat:send", {"team_id": team.pk, "message": "x", "task_id": ack["task_id"]})
        assert send == {"error": "Access denied"}
        assert await bob.call("chat:send", {"team_id": team.pk, "message": "x"}) == {
            "error": "Team not found"
        }
        answer_id = alice.named("chat:start")[0]["subtask_id"]
        assert await bob.call("chat:cancel", {"subtask_id": answer_id}) == {"error": "Subtask not found"}
        for bad in ({"message": "no team"}, {"team_id": "x", "message": "m"}, "not an object", None):
            reply = await bob.call("chat:send", bad)
            assert reply["error"].startswith("Invalid payload"), reply
        assert (await bob.call("task:join", {}))["error"].startswith("Invalid payload")
        assert await bob.call("no:such-event", {}) == {"error": "Unknown event: no:such-event"}
        # Bob's socket still works, and Alice never saw his attempts.
        assert (await bob.call("task:leave", {"task_id": 1})) == {"success": True}
        assert len(alice.named("chat:message")) == 0
        await alice.close()
        await bob.close()

    asyncio.run(scenario())
    assert Subtask.objects.count() == 2


def test_group_chat_messages_without_mention_get_no_answer(live_server_url, user, other_user, chat_team):
    from kinds.models import ResourceMember

    team = chat_team(user, "fake-n2")

    async def scenario() -> None:
        alice = await connect(live_server_url, user)
        ack = await alice.call("chat:send", {"team_id": team.pk, "message": "hi all", "is_group_chat": True})
        await asyncio.to_thread(
            ResourceMember.objects.create,
            resource_type="Task",
            resource_id=ack["task_id"],
            user=other_user,
            status="approved",
        )
        bob = await connect(live_server_url, other_user)
        await bob.call("task:join", {"task_id": ack["task_id"]})
        reply = await bob.call(
            "chat:send", {"team_id": team.pk, "task_id": ack["task_id"], "message": "hello alice"}
        )
        assert reply["message_id"] == 2
        message = await alice.wait_for("chat:message")
        assert message["content"] == "hello alice" and message["sender"]["user_name"] == other_user.user_name
        assert bob.named("chat:message") == []
        mention = await bob.call(
            "chat:send",
            {"team_id": team.pk, "task_id": ack["task_id"], "message": f"@{team.name} answer please"},
        )
        assert mention["message_id"] == 3
        done = await alice.wait_for("chat:done")
        assert done["message_id"] == 4
        await alice.close()
        await bob.close()

    asyncio.run(scenario())
    roles = list(Subtask.objects.order_by("message_id").values_list("role", "sender_user_id"))
    assert roles == [("USER", user.pk), ("USER", other_user.pk), ("USER", other_user.pk), ("ASSISTANT", None)]

"""The rest of ``/chat``: retry, resume, history sync, attachments reaching the model, the
periodic end of answers whose worker died, graceful shutdown, and the REST routes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.streams import WORKER_PREFIX, runner
from chat.tasks import end_interrupted_answers
from chat.tests.factories import model_doc_for
from chat.tests.sockets import connect
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle
from wegent.realtime import emitter

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_retry_reruns_a_failed_answer_in_place(live_server_url, user, chat_team, make_kind, fake_llm):
    team = chat_team(user, "fake-error-500")
    make_kind(user, model_doc_for(fake_llm, "working-model", "fake-n4"))

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "try"})
        error = await client.wait_for("chat:error")
        retry = {
            "task_id": ack["task_id"],
            "subtask_id": error["subtask_id"],
            "use_model_override": True,
            "force_override_bot_model": "working-model",
            "force_override_bot_model_type": "user",
        }
        assert await client.call("chat:retry", retry) == {"success": True}
        done = await client.wait_for("chat:done", lambda d: "error" not in d["result"])
        assert done["subtask_id"] == error["subtask_id"] and done["message_id"] == 2
        assert done["result"]["value"] == words(4)
        assert await client.call("chat:retry", {**retry, "subtask_id": 999999}) == {
            "error": "AI subtask not found"
        }
        await client.close()

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "COMPLETED" and answer.error_message == ""
    assert TaskResource.objects.get(kind="Task").status == "COMPLETED"


def test_resume_history_sync_and_unsupported_events(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n60-d20")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "resume me"})
        start = await client.wait_for("chat:start")
        await client.wait_for("chat:chunk", lambda c: c["offset"] > 10)
        resumed = await client.call(
            "chat:resume", {"task_id": ack["task_id"], "subtask_id": start["subtask_id"]}
        )
        assert resumed == {"success": True}
        missed = await client.wait_for("chat:chunk", lambda c: "task_id" not in c)
        assert missed["offset"] == 0 and words(60).startswith(missed["content"]) and missed["content"]
        await client.wait_for("chat:done")
        synced = await client.call("history:sync", {"task_id": ack["task_id"], "after_message_id": 0})
        assert [(m["role"], m["content"]) for m in synced["messages"]] == [
            ("USER", "resume me"),
            ("ASSISTANT", words(60)),
        ]
        assert await client.call("task:close-session", {"task_id": ack["task_id"]}) == {
            "error": "No device executor found for this task"
        }
        assert await client.call("task:close-session", {}) == {"error": "Missing task_id"}
        assert await client.call("skill:response", {"request_id": "r1"}) == {
            "error": "No pending request found"
        }
        assert await client.call("skill:response", {}) == {"error": "Missing request_id"}
        await client.close()

    asyncio.run(scenario())


def test_attachments_reach_the_model_and_the_room(
    live_server_url, user, chat_team, fake_llm, client_for, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    team = chat_team(user, "fake-n2")
    upload = client_for(user).post(
        "/api/attachments/upload",
        {"file": SimpleUploadedFile("notes.txt", b"The secret number is 4242.", content_type="text/plain")},
    )
    assert upload.status_code == 200, upload.content
    attachment_id = upload.json()["id"]

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call(
            "chat:send",
            {"team_id": team.pk, "message": "What is the number?", "attachment_ids": [attachment_id]},
        )
        assert "task_id" in ack
        await client.wait_for("chat:done")
        await client.close()

    asyncio.run(scenario())
    user_message = fake_llm.requests[-1].body["messages"][-1]
    assert user_message["role"] == "user"
    assert "The secret number is 4242." in user_message["content"]
    assert user_message["content"].endswith("[User Question]:\nWhat is the number?")


def test_answers_of_dead_workers_end_failed_with_their_text(user, team, make_task):

    dead = make_task(user, team, answer=None)
    lifecycle.claim_subtask(dead.assistant_subtask.pk, f"{WORKER_PREFIX}gone:1")
    Subtask.objects.filter(pk=dead.assistant_subtask.pk).update(
        result={"value": "half an ans"}, heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    alive = make_task(user, team, answer=None)
    lifecycle.claim_subtask(alive.assistant_subtask.pk, f"{WORKER_PREFIX}here:1")
    executor = make_task(user, team, answer=None)
    lifecycle.claim_subtask(executor.assistant_subtask.pk, "executor-pod-1")
    Subtask.objects.filter(pk=executor.assistant_subtask.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )

    assert end_interrupted_answers() == 1
    row = Subtask.objects.get(pk=dead.assistant_subtask.pk)
    assert row.status == statuses.FAILED and row.result["value"] == "half an ans"
    assert "interrupted" in row.error_message
    assert TaskResource.objects.get(pk=dead.task.pk).status == statuses.FAILED
    assert Subtask.objects.get(pk=alive.assistant_subtask.pk).status == statuses.RUNNING
    assert Subtask.objects.get(pk=executor.assistant_subtask.pk).status == statuses.RUNNING
    assert end_interrupted_answers() == 0


@pytest.fixture
def restore_runner():
    yield
    runner.accepting = True


def test_graceful_shutdown_cancels_what_outlives_the_grace(live_server_url, user, chat_team, restore_runner):
    team = chat_team(user, "fake-n500-d20")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "long"})
        await client.wait_for("chat:chunk")
        await asyncio.to_thread(emitter.in_server_loop, runner.shutdown(0.3), timeout=20)
        done = await client.wait_for("chat:done")
        assert done["result"]["cancelled"] is True and done["result"]["value"]
        refused = await client.call("chat:send", {"team_id": team.pk, "message": "more"})
        assert refused == {"error": "Server is shutting down"}
        await client.close()
        with pytest.raises(Exception, match="namespaces failed to connect"):
            await connect(live_server_url, user)

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == statuses.CANCELLED and answer.result["value"]


def test_rest_chat_routes(client_for, user, other_user, chat_team, anon_client, bot_stack):
    team = chat_team(user, "fake-n2")
    api = client_for(user)
    assert api.get(f"/api/chat/check-direct-chat/{team.pk}").json() == {
        "supports_direct_chat": True,
        "shell_type": "Chat",
    }
    code_team = bot_stack(user, "cc")["team"]
    from kinds.models import Kind

    shell = Kind.objects.get(kind="Shell", name="cc-shell")
    shell.document["spec"]["shellType"] = "ClaudeCode"
    shell.save()
    assert api.get(f"/api/chat/check-direct-chat/{code_team.pk}").json() == {
        "supports_direct_chat": False,
        "shell_type": "ClaudeCode",
    }
    assert client_for(other_user).get(f"/api/chat/check-direct-chat/{team.pk}").status_code == 404
    assert api.get("/api/chat/check-direct-chat/999999").status_code == 404
    assert anon_client.get(f"/api/chat/check-direct-chat/{team.pk}").status_code == 401
    assert api.get("/api/chat/search-engines").json() == {"enabled": False, "engines": []}
    assert anon_client.get("/api/chat/search-engines").status_code == 401

"""The inspector on a real stream (the server on a loopback port, the fake LLM, a real
Socket.IO client as the user's browser): the live text grows while it streams, cancel and
retry reach the stream and the connected client gets the same events as from the frontend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from chat.tests.factories import model_doc_for
from chat.tests.sockets import connect
from kinds.services import apply_one
from tasks import statuses
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _console(admin_user: Any) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def test_live_text_grows_and_cancel_stops_the_stream(live_server_url, admin_user, user, chat_team):
    team = chat_team(user, "fake-n400-d20")
    console = _console(admin_user)

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "a long one"})
        task_id = ack["task_id"]
        live_url = reverse("admin:console_task_live", args=[task_id])
        first_chunk = await client.wait_for("chat:chunk")
        first = (await asyncio.to_thread(console.get, live_url)).json()
        [answer] = first["answers"]
        assert answer["live"] is True and answer["status"] == statuses.RUNNING
        assert answer["subtask_id"] == first_chunk["subtask_id"]
        # Wait for chunks past what the console saw; the console then sees at least those.
        seen = len(answer["text"])
        await client.wait_for("chat:chunk", lambda chunk: chunk["offset"] > seen)
        second = (await asyncio.to_thread(console.get, live_url)).json()["answers"][0]
        assert len(second["text"]) > seen and second["text"].startswith(answer["text"])
        page = await asyncio.to_thread(
            console.get, reverse("admin:tasks_taskresource_change", args=[task_id])
        )
        html = page.content.decode()
        assert "Cancel task" in html and "End as FAILED" in html

        cancelled = await asyncio.to_thread(
            console.post, reverse("admin:console_task_cancel", args=[task_id])
        )
        assert cancelled.status_code == 302
        await client.wait_for("chat:cancelled")
        done = await client.wait_for("chat:done")
        assert done["result"]["value"]  # the text so far is kept
        await client.close()

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == statuses.CANCELLED
    assert TaskResource.objects.get(kind="Task").status == statuses.CANCELLED
    assert "Cancelled the task" in LogEntry.objects.get().get_change_message()


def test_retry_a_failed_answer_streams_it_again(live_server_url, admin_user, user, chat_team, fake_llm):
    team = chat_team(user, "fake-error-500")
    console = _console(admin_user)

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "try"})
        error = await client.wait_for("chat:error")
        # The operator fixes the model, then retries the failed answer from the console.
        await asyncio.to_thread(
            apply_one, actor=user, namespace="default", item=model_doc_for(fake_llm, "c-model", "fake-n3")
        )
        url = reverse("admin:console_task_answer", args=[ack["task_id"], error["subtask_id"], "retry"])
        assert (await asyncio.to_thread(console.post, url)).status_code == 302
        done = await client.wait_for("chat:done", lambda d: "error" not in d["result"])
        assert done["subtask_id"] == error["subtask_id"] and done["result"]["value"] == "w0 w1 w2"
        await client.close()

    asyncio.run(scenario())
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == statuses.COMPLETED and answer.error_message == ""
    assert "Retried answer" in LogEntry.objects.get().get_change_message()


def test_end_as_failed_tells_the_connected_client(live_server_url, admin_user, user, chat_team):
    team = chat_team(user, "fake-hang")
    console = _console(admin_user)

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "never answers"})
        start = await client.wait_for("chat:start")
        url = reverse("admin:console_task_answer", args=[ack["task_id"], start["subtask_id"], "fail"])
        assert (await asyncio.to_thread(console.post, url)).status_code == 302
        error = await client.wait_for("chat:error")
        assert error["error"] == "Ended by an operator" and error["subtask_id"] == start["subtask_id"]
        await client.wait_for("task:status", lambda s: s.get("status") == statuses.FAILED)
        await client.close()

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").status == statuses.FAILED

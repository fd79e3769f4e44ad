"""``/api/v1/responses`` end to end: the official ``openai`` SDK against the real ASGI server on
loopback, answering from the fake LLM over HTTP, on the real database."""

from __future__ import annotations

import httpx
import openai
import pytest

from accounts.roles import KeyType
from accounts.services import api_keys
from accounts.services.tokens import issue_access_token
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def key_for(user, key_type: str = KeyType.PERSONAL, name: str = "sdk") -> str:  # type: ignore[no-untyped-def]
    return api_keys.create_key(owner=user, name=name, key_type=key_type)[1]


def sdk(url: str, key: str, **options) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=f"{url}/api/v1", api_key=key, max_retries=0, timeout=30, **options)


def test_create_blocking_returns_the_completed_answer(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n5")
    client = sdk(live_server_url, key_for(user))
    response = client.responses.create(model=f"default#{team.name}", input="Say hi")
    assert response.status == "completed" and response.object == "response"
    assert response.output_text == words(5)
    task = TaskResource.objects.get(kind="Task")
    assert response.id == f"resp_{task.pk}" and response.model == f"default#{team.name}"
    answer = Subtask.objects.get(role="ASSISTANT")
    assert response.output[0].id == f"msg_{answer.pk}" and answer.status == "COMPLETED"
    assert answer.result["value"] == words(5)
    assert task.status == "COMPLETED"
    labels = task.labels
    assert labels["source"] == "chat_shell" and labels["is_api_call"] == "true"
    assert labels["api_key_name"] == "sdk" and labels["taskType"] == "chat"
    assert response.previous_response_id is None
    # The fake LLM reports 10 prompt tokens and one completion token per chunk.
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert response.usage.total_tokens == 15
    assert client.responses.retrieve(response.id).usage.output_tokens == 5


def test_stream_sends_the_reference_event_sequence(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n5")
    client = sdk(live_server_url, key_for(user))
    events = list(client.responses.create(model=f"default#{team.name}", input="Say hi", stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == words(5) and len(deltas) >= 1
    answer = Subtask.objects.get(role="ASSISTANT")
    assert {e.item_id for e in events if e.type == "response.output_text.delta"} == {f"msg_{answer.pk}"}
    assert events[-1].response.status == "completed"
    assert events[-1].response.output[0].content[0].text == words(5)
    assert events[-4].text == words(5)
    assert events[-1].response.usage.output_tokens == 5


def test_stream_headers(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n3")
    headers = {"Authorization": f"Bearer {key_for(user)}"}
    body = {"model": f"default#{team.name}", "input": "hi", "stream": True}
    with httpx.stream(
        "POST", f"{live_server_url}/api/v1/responses", json=body, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no" and r.headers["cache-control"] == "no-cache"
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert '"response.completed"' in lines[-1]


def test_message_list_uses_the_last_user_message_and_jwt_works(live_server_url, user, chat_team, fake_llm):
    team = chat_team(user, "fake-n2")
    client = sdk(live_server_url, issue_access_token(user))
    response = client.responses.create(
        model=f"default#{team.name}",
        input=[
            {"type": "message", "role": "user", "content": "first"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert response.output_text == words(2)
    assert fake_llm.requests[-1].body["messages"][-1] == {"role": "user", "content": "second"}
    assert TaskResource.objects.get(kind="Task").labels.get("api_key_name") is None


def test_follow_up_with_previous_response_id(live_server_url, user, chat_team, fake_llm):
    team = chat_team(user, "fake-n3")
    client = sdk(live_server_url, key_for(user))
    first = client.responses.create(model=f"default#{team.name}", input="one")
    second = client.responses.create(model=f"default#{team.name}", input="two", previous_response_id=first.id)
    assert second.id == first.id and second.previous_response_id == first.id
    assert second.output_text == words(3)
    assert TaskResource.objects.filter(kind="Task").count() == 1
    assert [m["content"] for m in fake_llm.requests[-1].body["messages"][1:]] == ["one", words(3), "two"]
    # The exchange shows in the task history of the web frontend.
    jwt = {"Authorization": f"Bearer {issue_access_token(user)}"}
    task_id = int(first.id.removeprefix("resp_"))
    messages = httpx.get(f"{live_server_url}/api/subtasks", params={"task_id": task_id}, headers=jwt).json()
    assert [m["prompt"] or m["result"]["value"] for m in messages["items"]] == [
        "one",
        words(3),
        "two",
        words(3),
    ]
    listed = httpx.get(f"{live_server_url}/api/tasks", headers=jwt).json()
    assert [item["id"] for item in listed["items"]] == [task_id]


def _deltas(events) -> str:  # type: ignore[no-untyped-def]
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_stream_interrupted_by_the_client_resumes_with_starting_after(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n60-d10")
    client = sdk(live_server_url, key_for(user))
    stream = client.responses.create(model=f"default#{team.name}", input="long", stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if sum(e.type == "response.output_text.delta" for e in seen) == 3:
            break
    stream.close()  # the client goes away mid-answer; the answer goes on without it
    response_id = seen[0].response.id
    last = seen[-1].sequence_number
    rest = list(client.responses.retrieve(response_id, stream=True, starting_after=last))
    assert [e.sequence_number for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    assert rest[-1].type == "response.completed"
    assert _deltas(seen) + _deltas(rest) == words(60)
    # A replay from the start after the end: the same events again.
    again = list(client.responses.retrieve(response_id, stream=True))
    assert [e.sequence_number for e in again] == list(range(len(again)))
    assert _deltas(again) == words(60) and again[-1].response.status == "completed"
    assert client.responses.retrieve(response_id).output_text == words(60)


def test_background_returns_at_once_and_cancel_keeps_the_partial_text(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n2000-d20")
    client = sdk(live_server_url, key_for(user))
    started = client.responses.create(model=f"default#{team.name}", input="go", background=True)
    assert started.status == "in_progress" and started.background is True
    events = client.responses.retrieve(started.id, stream=True)
    seen = []
    for event in events:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    running = client.responses.retrieve(started.id)
    assert running.status == "in_progress" and running.output[0].status == "in_progress"
    cancelled = client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    for event in events:  # the live stream ends too
        seen.append(event)
    events.close()
    assert seen[-1].type == "response.incomplete" and seen[-1].response.status == "cancelled"
    partial = _deltas(seen)
    assert partial and words(2000).startswith(partial) and partial != words(2000)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "CANCELLED" and answer.result["value"] == partial
    assert TaskResource.objects.get(kind="Task").status == "CANCELLED"
    assert client.responses.retrieve(started.id).output_text == partial
    # Cancelling an ended response returns it as it is.
    assert client.responses.cancel(started.id).status == "cancelled"


def test_delete_stops_a_running_answer_and_removes_the_task(live_server_url, user, chat_team, fake_llm):
    team = chat_team(user, "fake-hang")
    client = sdk(live_server_url, key_for(user))
    started = client.responses.create(model=f"default#{team.name}", input="go", background=True)
    with fake_llm._counters.changed:  # the model call is under way (a hanging stream)
        assert fake_llm._counters.changed.wait_for(lambda: fake_llm.started >= 1, 10)
    deleted = client.responses.delete(started.id)  # the SDK returns None for a delete
    assert deleted is None
    assert fake_llm.wait_for_disconnects(1)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(started.id)
    assert not TaskResource.objects.filter(kind="Task", is_active=True).exists()
    assert Subtask.objects.get(role="ASSISTANT").status == "DELETE"


def test_model_failure_ends_the_response_failed(live_server_url, user, chat_team):
    team = chat_team(user, "fake-error-500")
    client = sdk(live_server_url, key_for(user))
    response = client.responses.create(model=f"default#{team.name}", input="hi")
    assert response.status == "failed" and response.error.code == "stream_error"
    events = list(client.responses.create(model=f"default#{team.name}", input="hi", stream=True))
    assert events[-1].type == "response.failed" and events[-1].response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_executor_team_is_queued(live_server_url, user, bot_stack, make_kind):
    from kinds.tests.factories import bot_doc, shell_doc, team_doc

    bot_stack(user, "x")
    make_kind(user, shell_doc("x-cc", "ClaudeCode"))
    make_kind(user, bot_doc("x-cc-bot", "x-ghost", "x-cc", "x-model"))
    make_kind(user, team_doc("x-cc-team", ["x-cc-bot"]))
    client = sdk(live_server_url, key_for(user))
    response = client.responses.create(model="default#x-cc-team", input="build it")
    assert response.status == "queued"
    task = TaskResource.objects.get(kind="Task")
    assert task.labels["source"] == "api" and task.labels["is_api_call"] == "true"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="default#x-cc-team", input="build it", stream=True)


def test_background_response_read_and_cancelled_from_a_second_worker(user, chat_team):
    from django.conf import settings
    from django.db import connection

    from chat.tests.workers import Worker

    if not settings.REDIS_URL or connection.vendor == "sqlite":
        pytest.skip("several workers need Redis and a database server (scaled mode)")
    team = chat_team(user, "fake-n2000-d10")
    key = key_for(user)
    pair = (Worker(), Worker())
    try:
        for worker in pair:
            worker.wait_ready()
        producer, reader = (sdk(worker.url, key) for worker in pair)
        started = producer.responses.create(model=f"default#{team.name}", input="go", background=True)
        # Worker B replays from after the opening events and follows the live answer.
        events = reader.responses.retrieve(started.id, stream=True, starting_after=3)
        seen = []
        for event in events:
            seen.append(event)
            if sum(e.type == "response.output_text.delta" for e in seen) == 5:
                break
        assert seen[0].sequence_number == 4
        # Cancel sent to B stops the stream running on A; B's stream ends with it.
        assert reader.responses.cancel(started.id).status == "cancelled"
        for event in events:
            seen.append(event)
        assert [e.sequence_number for e in seen] == list(range(4, 4 + len(seen)))
        assert seen[-1].type == "response.incomplete" and seen[-1].response.status == "cancelled"
        partial = _deltas(seen)
        assert partial and words(2000).startswith(partial) and partial != words(2000)
        assert Subtask.objects.get(role="ASSISTANT").result["value"] == partial
    finally:
        for worker in pair:
            worker.stop()


def test_tools_mcp_servers_and_preloaded_skills_feed_the_tool_loop(
    live_server_url, user, chat_team, fake_llm, settings
):
    import json

    from chat.tests.fake_mcp import FakeMCPServer
    from kinds.tests.factories import make_skill

    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.MCP_CONNECT_TIMEOUT_SECONDS = 5.0
    make_skill(user, "style", body="Always answer in haiku form.")
    team = chat_team(user, "fake-tools-n3")
    client = sdk(live_server_url, key_for(user))
    with FakeMCPServer() as mcp:
        args = json.dumps({"text": "from the model", "times": 1})
        response = client.responses.create(
            model=f"default#{team.name}",
            input=f"@call echo {args}\nGo",
            tools=[
                {
                    "type": "mcp",
                    "mcp_servers": [{"fake": {"type": "streamable-http", "url": mcp.streamable_url}}],
                },
                {"type": "mcp", "mcp_servers": [{"off": {"url": "http://192.0.2.1/mcp", "disabled": True}}]},
                {"type": "skill", "preload_skills": ["style"]},
            ],
        )
    assert response.status == "completed"
    # The model called the request's MCP server and read its answer.
    assert "Tool results: echo: from the model" in response.output_text
    assert response.output_text.endswith(words(3))
    first = fake_llm.requests[0].body
    assert "echo" in {tool["function"]["name"] for tool in first["tools"]}
    assert "Always answer in haiku form." in first["messages"][0]["content"]
    # The disabled server was never tried (no problem reported for it).
    assert "off" not in json.dumps(Subtask.objects.get(role="ASSISTANT").result.get("thinking") or [])


def test_stdio_mcp_servers_are_refused_from_a_request(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n2")
    client = sdk(live_server_url, key_for(user))
    for servers in ([{"x": {"type": "stdio", "command": "id"}}], [{"x": "not an object"}]):
        with pytest.raises(openai.BadRequestError):
            client.responses.create(
                model=f"default#{team.name}", input="hi", tools=[{"type": "mcp", "mcp_servers": servers}]
            )
    assert not TaskResource.objects.filter(kind="Task").exists()


def test_socketio_answers_store_the_usage_too(live_server_url, user, chat_team):
    import asyncio

    from chat.tests.sockets import connect

    team = chat_team(user, "fake-n4")

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        # A new conversation: its model stream opens early, before the turn is stored.
        await client.call("chat:send", {"team_id": team.pk, "message": "hi"})
        done = await client.wait_for("chat:done")
        await client.close()
        return done

    done = asyncio.run(scenario())
    assert done["result"]["usage"] == {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
    assert Subtask.objects.get(role="ASSISTANT").result["usage"]["output_tokens"] == 4


def test_a_client_that_goes_away_stops_following_while_the_answer_runs_on(live_server_url, user, chat_team):
    import time

    from chat import response_feed

    team = chat_team(user, "fake-hang")
    client = sdk(live_server_url, key_for(user))
    stream = client.responses.create(model=f"default#{team.name}", input="go", stream=True)
    first = next(iter(stream))
    task_id = int(first.response.id.removeprefix("resp_"))
    feed = response_feed._feeds[task_id]
    assert feed.readers == 1
    stream.close()
    deadline = time.monotonic() + 10
    while feed.readers and time.monotonic() < deadline:  # waits for the server to notice
        time.sleep(0.02)
    assert feed.readers == 0 and not feed.ended  # the answer itself goes on
    assert client.responses.retrieve(first.response.id).status == "in_progress"
    client.responses.cancel(first.response.id)


def test_the_redis_log_replays_from_any_sequence_number(live_server_url, user, chat_team):
    import asyncio

    from django.conf import settings

    from chat import response_feed

    if not settings.REDIS_URL:
        pytest.skip("the Redis log exists with REDIS_URL only")
    team = chat_team(user, "fake-n30")
    client = sdk(live_server_url, key_for(user))
    events = list(client.responses.create(model=f"default#{team.name}", input="go", stream=True))
    task_id = int(events[0].response.id.removeprefix("resp_"))

    async def read(after: int) -> list[dict]:
        return [item async for item in response_feed.remote_events(task_id, after)]

    for after in (-1, 0, 2, 3, 5, len(events) - 3):
        replayed = asyncio.run(read(after))
        assert [e["sequence_number"] for e in replayed] == list(range(after + 1, len(events)))
        assert replayed[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in asyncio.run(read(-1)) if "delta" in e) == words(30)


def test_a_new_conversation_opens_its_model_stream_before_the_turn_is_stored(
    live_server_url, user, chat_team, fake_llm, monkeypatch
):
    from chat.streams import runner

    team = chat_team(user, "fake-n6")
    client = sdk(live_server_url, key_for(user))
    client.responses.create(model=f"default#{team.name}", input="warm")  # the server loop is known now
    opened = []
    original = runner.start_early

    async def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        early = await original(*args, **kwargs)
        opened.append(early)
        return early

    monkeypatch.setattr(runner, "start_early", spy)
    fake_llm.clear()
    events = list(client.responses.create(model=f"default#{team.name}", input="go", stream=True))
    assert len(opened) == 1 and _deltas(events) == words(6)
    assert len(fake_llm.requests) == 1  # the early stream was the answer's (not opened twice)
    # A follow-up reads its history from the task: no early stream.
    client.responses.create(
        model=f"default#{team.name}", input="more", previous_response_id=events[0].response.id
    )
    assert len(opened) == 1

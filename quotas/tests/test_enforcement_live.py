"""Quotas enforced end to end (the real ASGI server on loopback, the python-socketio client and
the official openai SDK, the fake LLM over HTTP): token usage recorded per answer, ``chat:send``
and ``chat:retry`` refused with the reset time, ``/api/v1/responses`` answered 429 with
``Retry-After``; nothing is written by a refused request. The socket writes' audit rows too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from accounts.services import api_keys
from audit.models import AuditEntry
from chat.tests.factories import make_chat_team
from chat.tests.fake_llm import FakeLLMServer
from chat.tests.sockets import connect
from quotas.tests.factories import make_quota
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _counts() -> tuple[int, int]:
    return TaskResource.objects.filter(kind="Task").count(), Subtask.objects.count()


def test_chat_answers_record_tokens_and_over_quota_sends_are_refused(live_server_url, user, fake_llm):
    team = make_chat_team(user, fake_llm, "fake-n5")
    # The fake LLM reports 10 input tokens and one output token per chunk: 15 per answer.
    make_quota(user=user, period="day", max_tokens=30)

    async def scenario() -> tuple[dict, dict, dict]:
        client = await connect(live_server_url, user)
        first = await client.call("chat:send", {"team_id": team.pk, "message": "one"})
        await client.wait_for("chat:done", lambda d: d["task_id"] == first["task_id"])
        follow = {"team_id": team.pk, "task_id": first["task_id"], "message": "two"}
        second = await client.call("chat:send", follow)
        await client.wait_for("chat:done", lambda d: d.get("message_id") == 4)
        before = await asyncio.to_thread(_counts)
        refused = await client.call("chat:send", {"team_id": team.pk, "message": "three"})
        refused_follow = await client.call("chat:send", {**follow, "message": "four"})
        assert await asyncio.to_thread(_counts) == before  # nothing half-written
        await client.close()
        return second, refused, refused_follow

    second, refused, refused_follow = asyncio.run(scenario())
    assert "error" not in second
    answers = list(Subtask.objects.filter(role="ASSISTANT").order_by("id"))
    assert [(a.input_tokens, a.output_tokens) for a in answers] == [(10, 5), (10, 5)]
    for ack in (refused, refused_follow):
        assert ack["error"].startswith("Quota exceeded") and "resets at" in ack["error"]
        assert ack["error_code"] == "quota_exceeded" and ack["retry_after"] > 0
        assert ack["reset_at"].endswith("T00:00:00+00:00")
        assert ack["quota"]["used_tokens"] == 30 and ack["quota"]["max_tokens"] == 30
    # Only the stored messages are in the audit trail, each with the socket's address.
    sends = AuditEntry.objects.filter(via="socket", action="chat.send")
    assert sends.count() == 2
    entry = sends.first()
    assert entry.actor == user and entry.object_type == "Task" and entry.route == "chat:send"
    assert entry.ip_address == "127.0.0.1" and entry.object_id == str(answers[0].task_id)


def test_retry_over_quota_is_refused_and_an_allowed_retry_is_audited(live_server_url, user, fake_llm):
    team = make_chat_team(user, fake_llm, "fake-error-500")
    quota = make_quota(user=user, period="month", max_requests=1)

    async def scenario() -> dict:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "try"})
        error = await client.wait_for("chat:error")
        retry = {"task_id": ack["task_id"], "subtask_id": error["subtask_id"]}
        refused = await client.call("chat:retry", retry)
        await asyncio.to_thread(quota.delete)
        assert await client.call("chat:retry", retry) == {"success": True}
        await client.wait_for("chat:error", lambda d: len(client.named("chat:error")) > 1)
        await client.close()
        return refused

    refused = asyncio.run(scenario())
    assert refused["error_code"] == "quota_exceeded" and refused["quota"]["period"] == "month"
    retries = AuditEntry.objects.filter(via="socket", action="chat.retry")
    assert retries.count() == 1 and retries.get().object_type == "Subtask"


def test_cancel_is_audited(live_server_url, user, fake_llm):
    team = make_chat_team(user, fake_llm, "fake-n200-d20")

    async def scenario() -> None:
        client = await connect(live_server_url, user)
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "long"})
        start = await client.wait_for("chat:start")
        await client.wait_for("chat:chunk")
        cancel = {"task_id": ack["task_id"], "subtask_id": start["subtask_id"]}
        assert await client.call("chat:cancel", cancel) == {"success": True}
        await client.wait_for("chat:cancelled")
        await client.close()

    asyncio.run(scenario())
    entry = AuditEntry.objects.get(action="chat.cancel")
    answer = Subtask.objects.get(role="ASSISTANT")
    assert entry.via == "socket" and entry.object_id == str(answer.pk) and entry.actor == user
    assert entry.detail == {"task_id": answer.task_id}
    # A cancelled answer keeps the tokens its model call used so far (none reported mid-stream
    # by the fake LLM, whose usage comes with the last chunk): the row says 0, never garbage.
    assert answer.status == "CANCELLED" and answer.input_tokens >= 0


def test_responses_api_over_quota_is_429_with_retry_after(live_server_url, user, fake_llm):
    team = make_chat_team(user, fake_llm, "fake-n5")
    make_quota(user=user, period="day", max_requests=1)
    key = api_keys.create_key(owner=user, name="sdk", key_type="personal")[1]
    client = openai.OpenAI(base_url=f"{live_server_url}/api/v1", api_key=key, max_retries=0, timeout=30)
    first = client.responses.create(model=f"default#{team.name}", input="one")
    assert first.status == "completed" and first.usage.total_tokens == 15
    before = _counts()
    with pytest.raises(openai.RateLimitError) as refused:
        client.responses.create(model=f"default#{team.name}", input="two", stream=True)
    assert _counts() == before
    response = refused.value.response
    body = response.json()
    assert response.status_code == 429 and int(response.headers["Retry-After"]) == body["retry_after"]
    assert body["error_code"] == "quota_exceeded" and body["reset_at"].endswith("T00:00:00+00:00")
    with pytest.raises(openai.RateLimitError):  # a follow-up in the same conversation too
        client.responses.create(model=f"default#{team.name}", input="two", previous_response_id=first.id)
    # The API write that succeeded is in the audit trail; the refused ones are not.
    (entry,) = AuditEntry.objects.filter(via="api")
    assert entry.route == "/api/v1/responses" and entry.method == "POST" and entry.actor == user
    assert entry.status_code == 200 and entry.detail["api_key"] == "sdk"

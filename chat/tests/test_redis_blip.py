"""A Redis restart in the middle of an answer (the scaled mode's shared state blinks out).

The model stream is healthy, so the answer must not suffer: local sockets keep getting every
chunk, the answer ends COMPLETED with the exact text, ``chat:done`` carries the offset the client
has, the live text in Redis is rebuilt when Redis is back, and ``/api/ready`` says ready on its
first call after the restart.

The tests bring their own ``redis-server`` (stopped and started again on the same port), so the
single-process ones run on every leg: the server under test is pointed at it through
``REDIS_URL`` and the cache. The two-worker one needs a database server (the workers are
processes of their own), so it runs on the PostgreSQL and MariaDB legs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis
from django.db import connection

from chat import stream_state
from chat.tests.fake_llm import answer
from chat.tests.sockets import connect
from chat.tests.workers import Worker
from tasks.models import Subtask
from wegent.tests.helpers import OwnRedis

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CHUNKS = 500  # "fake-n500-d20": about ten seconds of answer, the blip lands in the middle


@pytest.fixture
def own_redis(settings) -> Iterator[OwnRedis]:  # type: ignore[no-untyped-def]
    server = OwnRedis()
    if server.binary is None:
        pytest.skip("redis-server is not installed (the test restarts a Redis of its own)")
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "wegent",
        }
    }
    try:
        yield server
    finally:
        server.stop()


def _received(client, subtask_id: int) -> str:  # type: ignore[no-untyped-def]
    """The text the client got, chunk by chunk, each one starting exactly where the last ended."""
    text = ""
    for chunk in client.named("chat:chunk"):
        if chunk["subtask_id"] == subtask_id:
            assert chunk["offset"] == len(text), "no gap and no overlap"
            text += chunk["content"]
    return text


async def _mirror(url: str, subtask_id: int) -> bytes | None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await client.get(stream_state._text_key(subtask_id))
    finally:
        await client.aclose()


def test_a_redis_restart_mid_stream_does_not_touch_the_answer(own_redis, live_server_url, user, chat_team):
    team = chat_team(user, f"fake-n{CHUNKS}-d20")
    full = answer(CHUNKS)

    async def scenario() -> int:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "a long answer please"})
        start = await client.wait_for("chat:start")
        subtask_id = start["subtask_id"]
        first = await client.wait_for("chat:chunk", lambda c: c["offset"] > 100)

        await asyncio.to_thread(own_redis.stop)
        # The stream goes on while Redis is away: more chunks reach the local socket.
        await client.wait_for("chat:chunk", lambda c: c["offset"] > first["offset"] + 150)
        await asyncio.to_thread(own_redis.start)
        assert not client.named("chat:done"), "the restart must land mid-stream"

        async with httpx.AsyncClient(base_url=live_server_url) as http:
            ready = await http.get("/api/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"

        # The shared live text is rebuilt: once Redis has it again it is exactly a prefix of the
        # answer (appends after the restart alone would give a fragment from the middle).
        mirrored = None
        while not mirrored and not client.named("chat:done"):
            so_far = len(_received(client, subtask_id))
            await client.wait_for("chat:chunk", lambda c, so_far=so_far: c["offset"] >= so_far)
            mirrored = await _mirror(own_redis.url, subtask_id)
        assert mirrored, "the live text is back in Redis before the answer ends"
        assert full.startswith(mirrored.decode()) and len(mirrored) > first["offset"]

        done = await client.wait_for("chat:done", timeout=60)
        got = _received(client, subtask_id)
        assert client.named("chat:error") == []
        assert got == full
        assert done["offset"] == len(got)
        assert done["result"]["value"] == full
        await client.close()
        return subtask_id

    subtask_id = asyncio.run(scenario())
    row = Subtask.objects.get(pk=subtask_id)
    assert row.status == "COMPLETED", row.result
    assert row.result["value"] == full


def test_a_cancel_while_redis_is_away_stops_the_stream_of_this_process(
    own_redis, live_server_url, user, chat_team
):
    team = chat_team(user, f"fake-n{CHUNKS}-d20")

    async def scenario() -> tuple[int, str]:
        client = await connect(live_server_url, user)
        await client.call("chat:send", {"team_id": team.pk, "message": "a long answer please"})
        start = await client.wait_for("chat:start")
        subtask_id = start["subtask_id"]
        first = await client.wait_for("chat:chunk", lambda c: c["offset"] > 50)
        await asyncio.to_thread(own_redis.stop)
        await client.wait_for("chat:chunk", lambda c: c["offset"] > first["offset"] + 50)

        assert await client.call("chat:cancel", {"subtask_id": subtask_id}) == {"success": True}
        await client.wait_for("chat:cancelled")
        done = await client.wait_for("chat:done")
        got = _received(client, subtask_id)
        assert client.named("chat:error") == []
        assert done["result"]["cancelled"] is True
        assert done["result"]["value"] == got and done["offset"] == len(got)
        assert answer(CHUNKS).startswith(got) and len(got) < len(answer(CHUNKS))
        await client.close()
        return subtask_id, got

    subtask_id, got = asyncio.run(scenario())
    row = Subtask.objects.get(pk=subtask_id)
    assert row.status == "CANCELLED" and row.result["value"] == got


def test_a_client_on_another_worker_gets_the_whole_answer_after_the_restart(own_redis, user, chat_team):
    """The stream runs on A, a client watches from B. While Redis is away B hears nothing (its
    subscription is gone); A holds the publishes and, once Redis is back and B has subscribed
    again, sends them in order: B's client gets every chunk (late) and chat:done."""
    if connection.vendor == "sqlite":
        pytest.skip("two workers need a database server (the scaled mode)")
    team = chat_team(user, f"fake-n{CHUNKS}-d20")
    full = answer(CHUNKS)
    producer, other = Worker(REDIS_URL=own_redis.url), Worker(REDIS_URL=own_redis.url)

    async def scenario() -> int:
        sender = await connect(producer.url, user)
        ack = await sender.call("chat:send", {"team_id": team.pk, "message": "a long answer please"})
        start = await sender.wait_for("chat:start")
        subtask_id = start["subtask_id"]
        await sender.wait_for("chat:chunk", lambda c: c["offset"] > 50)
        watcher = await connect(other.url, user)
        joined = (await watcher.call("task:join", {"task_id": ack["task_id"]}))["streaming"]
        assert joined["subtask_id"] == subtask_id and full.startswith(joined["cached_content"])
        await watcher.wait_for("chat:chunk", lambda c: c["offset"] > joined["offset"] + 50)

        seen = len(_received(sender, subtask_id))
        await asyncio.to_thread(own_redis.stop)
        await sender.wait_for("chat:chunk", lambda c: c["offset"] > seen + 150)
        await asyncio.to_thread(own_redis.start)

        done = await watcher.wait_for("chat:done", timeout=60)
        await sender.wait_for("chat:done", timeout=60)
        assert done["result"]["value"] == full and watcher.named("chat:error") == []
        text = joined["cached_content"]
        for chunk in watcher.named("chat:chunk"):
            if chunk["offset"] >= joined["offset"]:
                assert chunk["offset"] == len(text), "every chunk reached the other worker, in order"
                text += chunk["content"]
        assert text == full
        for client in (sender, watcher):
            await client.close()
        return subtask_id

    try:
        for worker in (producer, other):
            worker.wait_ready()
        subtask_id = asyncio.run(scenario())
    finally:
        for worker in (producer, other):
            worker.stop()
    row = Subtask.objects.get(pk=subtask_id)
    assert row.status == "COMPLETED" and row.result["value"] == full, producer.output()

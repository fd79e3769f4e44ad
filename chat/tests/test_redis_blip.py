"""A Redis restart in the middle of an answer (the scaled mode's shared state blinks out).

The model stream is healthy, so the answer must not suffer: local sockets keep getting every
chunk, the answer ends COMPLETED with the exact text, ``chat:done`` carries the offset the client
has, the live text in Redis is rebuilt when Redis is back, and ``/api/ready`` says ready on its
first call after the restart.

The test brings its own ``redis-server`` (stopped and started again on the same port), so it runs
on every leg: the server under test is pointed at it through ``REDIS_URL`` and the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis

from chat import stream_state
from chat.tests.fake_llm import answer
from chat.tests.sockets import connect
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

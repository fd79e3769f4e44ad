"""Batched Redis commands (``wegent.realtime.redis_batch``) against the real Redis of the leg."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import redis
from django.conf import settings

from wegent.realtime.redis_batch import RedisBatcher

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (the scaled-mode legs)")


@pytest.fixture
def key() -> str:
    name = f"wegent:test:batch:{uuid.uuid4().hex}"
    yield name
    redis.Redis.from_url(settings.REDIS_URL).delete(name)


def test_commands_apply_in_the_order_issued_awaited_or_not(key: str) -> None:
    async def scenario() -> tuple[list[int], bytes]:
        batcher = RedisBatcher(settings.REDIS_URL)
        replies = []
        for i in range(300):
            if i % 3:
                batcher.send("APPEND", key, f"{i},")
            else:
                replies.append(batcher.call("APPEND", key, f"{i},"))
        lengths = await asyncio.gather(*replies)
        return lengths, await batcher.call("GET", key)

    lengths, value = asyncio.run(scenario())

    assert value.decode() == "".join(f"{i}," for i in range(300))
    # Each awaited reply is the length after its own command, not after a later one.
    expected = [len("".join(f"{j}," for j in range(i + 1))) for i in range(0, 300, 3)]
    assert lengths == expected


def test_a_failed_command_fails_only_its_caller(key: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[BaseException | None, int, object]:
        batcher = RedisBatcher(settings.REDIS_URL)
        await batcher.call("SET", key, "text")
        batcher.send("INCR", key)  # not a number: logged, nobody waits for it
        failure = None
        try:
            await batcher.call("INCR", key)
        except redis.ResponseError as exc:
            failure = exc
        length = await batcher.call("APPEND", key, "!")
        return failure, length, await batcher.call("GET", key)

    with caplog.at_level(logging.WARNING, logger="wegent.realtime.redis_batch"):
        failure, length, value = asyncio.run(scenario())

    assert isinstance(failure, redis.ResponseError)
    assert (length, value) == (5, b"text!")
    assert any("unawaited Redis commands failed" in r.getMessage() for r in caplog.records)


def test_an_unreachable_redis_fails_the_waiting_callers() -> None:
    async def scenario() -> BaseException | None:
        batcher = RedisBatcher("redis://127.0.0.1:1/0")
        try:
            await asyncio.wait_for(batcher.call("PING"), timeout=10)
        except redis.ConnectionError as exc:
            return exc
        return None

    assert isinstance(asyncio.run(scenario()), redis.ConnectionError)

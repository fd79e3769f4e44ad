"""The batcher while Redis is away (``wegent.realtime.redis_batch``), against a Redis of the
test's own that it stops and starts again on the same port (so these run on every leg)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from wegent.realtime import redis_batch
from wegent.realtime.redis_batch import RedisBatcher, RedisUnavailable
from wegent.tests.helpers import OwnRedis

CHANNEL = "wegent:test:outage"


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    if server.binary is None:
        pytest.skip("redis-server is not installed (the test restarts a Redis of its own)")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _subscribe(url: str) -> aioredis.client.PubSub:
    pubsub = aioredis.Redis.from_url(url).pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=5)  # the subscribe confirmation
    return pubsub


async def _messages(pubsub: aioredis.client.PubSub, count: int) -> list[bytes]:
    async def read() -> list[bytes]:
        got: list[bytes] = []
        while len(got) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                got.append(message["data"])
        return got

    return await asyncio.wait_for(read(), 10)


async def _batcher_is_back(url: str) -> None:
    """Returns once Redis (just started, nobody else connected) runs a command of the batcher:
    it is connected again, before this test's subscriber is."""
    client = aioredis.Redis.from_url(url)
    try:
        async with client.monitor() as monitor:
            async for command in monitor.listen():
                if command["command"].split(" ")[0].upper() in ("PING", "PUBSUB", "PUBLISH"):
                    return
    finally:
        await client.aclose()


async def _go_down(batcher: RedisBatcher, server: OwnRedis) -> None:
    await asyncio.to_thread(server.stop)
    with pytest.raises(redis.ConnectionError):
        await batcher.call("PING")  # the batcher finds Redis away
    with pytest.raises(RedisUnavailable):
        await batcher.call("PING")  # and now fails awaited commands at once, unsent


def test_held_publishes_wait_for_the_subscribers_to_return(own_redis: OwnRedis) -> None:
    """A worker whose subscription came back after the publisher's gets what was held."""

    async def scenario() -> list[bytes]:
        batcher = RedisBatcher(own_redis.url)
        listener = await _subscribe(own_redis.url)
        assert await batcher.call("PUBLISH", CHANNEL, "before") == 1
        assert await _messages(listener, 1) == [b"before"]

        await _go_down(batcher, own_redis)
        for i in range(3):
            batcher.send("PUBLISH", CHANNEL, f"held-{i}")
        await asyncio.to_thread(own_redis.start)
        # The publisher is connected again before this subscriber is: the held messages must
        # wait for it rather than go out to nobody.
        await asyncio.wait_for(_batcher_is_back(own_redis.url), 10)
        listener = await _subscribe(own_redis.url)
        got = await _messages(listener, 3)
        await listener.aclose()
        return got

    assert asyncio.run(scenario()) == [b"held-0", b"held-1", b"held-2"]


def test_past_the_cap_the_oldest_held_publishes_are_dropped(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_batch, "MAX_HELD_BYTES", 2000)

    async def scenario() -> list[bytes]:
        batcher = RedisBatcher(own_redis.url)
        listener = await _subscribe(own_redis.url)
        assert await batcher.call("PUBLISH", CHANNEL, "before") == 1
        assert await _messages(listener, 1) == [b"before"]
        await _go_down(batcher, own_redis)
        for i in range(100):
            batcher.send("PUBLISH", CHANNEL, f"{i:04d}" + "x" * 96)  # about 130 bytes each
        await asyncio.to_thread(own_redis.start)
        listener = await _subscribe(own_redis.url)  # the batcher waits for it (see above)
        got: list[bytes] = []
        while not got or got[-1] != b"0099":
            got += [data[:4] for data in await _messages(listener, 1)]
        await listener.aclose()
        return got

    got = asyncio.run(scenario())
    # Bounded: only the newest that fit were kept, in order, and the last one is among them.
    assert 0 < len(got) < 20
    assert got == [f"{i:04d}".encode() for i in range(100 - len(got), 100)]


def test_restore_hooks_go_before_the_held_commands(own_redis: OwnRedis) -> None:
    key = "wegent:test:outage:text"

    def restore(url: str) -> list[tuple[object, ...]]:
        return [("SET", key, "whole text")] if url == own_redis.url else []

    redis_batch.on_reconnect(restore)
    try:

        async def scenario() -> bytes | None:
            batcher = RedisBatcher(own_redis.url)
            await _go_down(batcher, own_redis)
            batcher.send("APPEND", key, " and more")
            await asyncio.to_thread(own_redis.start)
            while True:
                try:
                    return await batcher.call("GET", key)
                except RedisUnavailable:
                    await asyncio.sleep(0.02)  # polling for the reconnection, not a timing assertion

        assert asyncio.run(scenario()) == b"whole text and more"
    finally:
        redis_batch._restore_hooks.remove(restore)

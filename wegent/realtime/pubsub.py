"""One Redis pub/sub subscription kept for the life of the process (reconnecting on failure)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from wegent.realtime.redis_batch import UNAVAILABLE

logger = logging.getLogger(__name__)

# Seconds before subscribing again after a failure: from the first, doubling up to the last.
# The first is short: while this process is not subscribed, events published for its sockets
# are lost (Redis does not replay them); publishers hold theirs until we are back (redis_batch).
RECONNECT_SECONDS = (0.05, 1.0)


async def listen_forever(
    url: str,
    channel: str,
    on_message: Callable[[bytes], Awaitable[None] | None],
    *,
    what: str,
    subscribed: asyncio.Event | None = None,
) -> None:
    """Calls ``on_message`` with the data of every message published on ``channel``; a lost
    connection or a failing handler is logged (as ``what``) and the subscription made again.

    ``subscribed`` is set while the subscription is active (cleared while reconnecting): a
    caller that publishes and then waits for an answer on ``channel`` waits for it first, since
    Redis does not replay what was published before the subscription."""
    delay = RECONNECT_SECONDS[0]
    while True:
        client = aioredis.Redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                delay = RECONNECT_SECONDS[0]
                if subscribed is not None:
                    subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    handled = on_message(message["data"])
                    if handled is not None:
                        await handled
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE as exc:
            # Redis is away (a restart): one line per attempt, not a traceback a second. Messages
            # published meanwhile are not replayed by Redis; see redis_batch for what is held.
            logger.warning("%s: Redis unreachable (%s); reconnecting", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])
        except Exception:
            logger.exception("%s failed; reconnecting", what)
            await asyncio.sleep(RECONNECT_SECONDS[1])
        finally:
            if subscribed is not None:
                subscribed.clear()
            await client.aclose()

"""Requests a skill sends to the user's browser (``skill:request``) and their answers
(``skill:response``), reference realtime §7.1.

A request waits on a future in the worker that made it. The browser may be connected to any
worker, so with Redis a request is also recorded under ``wegent:skill:request:<id>`` (its
owner's user id, expiring with the timeout): the worker that receives the answer checks and
deletes that key in one step (so only the owner answers, and only once) and publishes the answer
on one pub/sub channel every worker listens to; the waiting worker resolves its future. Without
Redis there is one process and the future is resolved directly.

An answer that arrives after the timeout (or after the turn was cancelled) finds neither the key
nor the future: it is refused with ``No pending request found`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from chat import protocol
from wegent.realtime import emitter
from wegent.realtime.pubsub import listen_forever
from wegent.realtime.redis_batch import UNAVAILABLE, batcher
from wegent.realtime.rooms import task_room

logger = logging.getLogger(__name__)

CHANNEL = f"{settings.REDIS_CHANNEL_PREFIX}chat:skill-response"
KEY_PREFIX = "wegent:skill:request:"
# The key outlives the wait a little: the waiting worker deletes it itself when it gives up.
KEY_GRACE_SECONDS = 5
# Check the owner and delete in one step: nil = unknown (or answered, or expired), 0 = another
# user's request (left in place for its owner), 1 = claimed by this answer.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if not owner then return nil end
if owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class SkillRequestError(Exception):
    """The request could not be made or was not answered."""


class SkillRequestTimeout(SkillRequestError):
    """The browser did not answer in time."""


@dataclass(frozen=True)
class Outcome:
    """The browser's answer: ``result`` when ``success``, else ``error`` (a string or the web
    client's ``{message, line?, column?, details?}`` object)."""

    success: bool
    result: Any = None
    error: Any = None


@dataclass
class _Pending:
    user_id: int
    future: asyncio.Future[Outcome]


def _key(request_id: str) -> str:
    return KEY_PREFIX + request_id


class SkillRequests:
    """The pending requests of this process."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    # --- asking -------------------------------------------------------------------------------

    async def request(
        self,
        *,
        user_id: int,
        task_id: int,
        skill_name: str,
        action: str,
        data: Any,
        timeout: float | None = None,
    ) -> Outcome:
        """Emits ``skill:request`` to the task's room and waits for ``user_id``'s browser to
        answer; raises ``SkillRequestTimeout`` after ``timeout`` seconds (the setting by
        default). Cancelling the caller withdraws the request."""
        timeout = settings.CHAT_SKILL_REQUEST_TIMEOUT_SECONDS if timeout is None else timeout
        request_id = uuid.uuid4().hex
        pending = _Pending(user_id, asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        try:
            async with asyncio.timeout(timeout):
                if settings.REDIS_URL:
                    await self._listening()
                    seconds = math.ceil(timeout) + KEY_GRACE_SECONDS
                    await batcher(settings.REDIS_URL).call(
                        "SET", _key(request_id), str(user_id), "EX", seconds
                    )
                payload = protocol.skill_request(
                    request_id=request_id, skill_name=skill_name, action=action, data=data
                )
                await emitter.emit(protocol.SKILL_REQUEST, payload, room=task_room(task_id))
                return await pending.future
        except TimeoutError:
            raise SkillRequestTimeout(f"No answer from the browser within {timeout:g} s") from None
        except UNAVAILABLE:
            raise SkillRequestError("The browser cannot be reached right now (Redis unavailable)") from None
        finally:
            self._pending.pop(request_id, None)
            if settings.REDIS_URL:
                # Withdrawn: a late answer on any worker is refused. Queued, never awaited (the
                # caller may be cancelled); the key expires anyway if Redis is away.
                batcher(settings.REDIS_URL).send("DEL", _key(request_id))

    async def _listening(self) -> None:
        """Answers published before this process subscribed would be lost: wait for it."""
        listener = self._listener
        if listener is None or listener.done() or listener.get_loop() is not asyncio.get_running_loop():
            self._subscribed = asyncio.Event()
            self._listener = asyncio.ensure_future(
                listen_forever(
                    settings.REDIS_URL,
                    CHANNEL,
                    self._on_message,
                    what="skill response listener",
                    subscribed=self._subscribed,
                )
            )
        await self._subscribed.wait()

    def _on_message(self, raw: bytes) -> None:
        try:
            data = orjson.loads(raw)
            request_id = data["id"]
            outcome = Outcome(bool(data["success"]), data.get("result"), data.get("error"))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        self._settle(request_id, outcome)

    def _settle(self, request_id: str, outcome: Outcome) -> bool:
        pending = self._pending.get(request_id)
        if pending is None or pending.future.done():
            return False  # withdrawn (timed out, cancelled) or already answered here
        pending.future.set_result(outcome)
        return True

    # --- answering ------------------------------------------------------------------------------

    async def answer(self, user_id: int, request_id: str, outcome: Outcome) -> dict[str, Any]:
        """Resolves the request ``request_id`` (waiting in any worker) with the browser's
        ``outcome``; the ack for ``skill:response``."""
        if not settings.REDIS_URL:
            pending = self._pending.get(request_id)
            if pending is None or pending.future.done():
                return protocol.error(protocol.NO_PENDING_REQUEST)
            if pending.user_id != user_id:
                return protocol.error(protocol.NOT_YOUR_REQUEST)
            self._settle(request_id, outcome)
            return {"success": True}
        commands = batcher(settings.REDIS_URL)
        try:
            claimed = await commands.call("EVAL", _CLAIM, 1, _key(request_id), str(user_id))
        except UNAVAILABLE:
            return protocol.error("Service unavailable, try again")
        if claimed is None:
            return protocol.error(protocol.NO_PENDING_REQUEST)
        if not claimed:
            return protocol.error(protocol.NOT_YOUR_REQUEST)
        # Claimed: this answer is the only one. Here already, or published to the worker waiting.
        if not self._settle(request_id, outcome):
            message = {"id": request_id, "success": outcome.success, "result": outcome.result}
            message["error"] = outcome.error
            commands.send("PUBLISH", CHANNEL, orjson.dumps(message))
        return {"success": True}


registry = SkillRequests()

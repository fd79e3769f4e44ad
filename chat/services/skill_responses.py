"""``skill:response``: a browser's answer to a ``skill:request`` (reference realtime §2.2, §7.1).

Asynchronous, unlike the other services: it touches no table, only the pending-request registry
(``chat.skill_requests``), which may have to reach another worker through Redis.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

from chat import protocol
from chat.skill_requests import Outcome, registry


def _size(payload: protocol.SkillResponse) -> int:
    try:
        return len(orjson.dumps({"result": payload.result, "error": payload.error}))
    except TypeError:  # not JSON (cannot come off the wire, but never a 500)
        return settings.CHAT_SKILL_RESPONSE_MAX_BYTES + 1


async def respond(user_id: int, data: Any) -> dict[str, Any]:
    """Resolves the request the browser answers; the ack. An answer larger than the limit
    still settles its request (as a failure the model can read), so the turn does not wait
    for a timeout, but its content is dropped."""
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(request_id, str) or not request_id:
        return protocol.error(protocol.MISSING_REQUEST_ID)
    payload = protocol.parse(protocol.SkillResponse, data)
    if isinstance(payload, dict):
        return payload
    limit = settings.CHAT_SKILL_RESPONSE_MAX_BYTES
    size = _size(payload)
    if size > limit:
        error = f"The browser's answer was too large ({size} bytes, limit {limit})"
        ack = await registry.answer(user_id, payload.request_id, Outcome(False, None, error))
        return protocol.error(protocol.RESPONSE_TOO_LARGE) if "success" in ack else ack
    outcome = Outcome(payload.success, payload.result, payload.error)
    return await registry.answer(user_id, payload.request_id, outcome)

"""The chat runner's figures at ``/metrics``: first-token and total stream durations, streams
running now (read from the real server on loopback after a real chat)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from chat.tests.factories import make_chat_team
from chat.tests.sockets import connect
from wegent.tests.helpers import metric_sample as sample

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_chat_streams_are_timed(live_server_url: str, user: Any, fake_llm: Any) -> None:
    team = make_chat_team(user, fake_llm, "fake-n5")

    async def scenario() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=live_server_url) as http:
            before = (await http.get("/metrics")).text
            client = await connect(live_server_url, user)
            ack = await client.call("chat:send", {"team_id": team.pk, "message": "hi"})
            assert "task_id" in ack, ack
            await client.wait_for("chat:done", timeout=30)
            await client.close()
            return before, (await http.get("/metrics")).text

    before, after = asyncio.run(scenario())
    for name, labels in (
        ("wegent_chat_first_token_seconds_count", {}),
        ("wegent_chat_stream_seconds_count", {"ending": "completed"}),
    ):
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1, name
    assert sample(after, "wegent_chat_streams_active") == 0
    assert "# TYPE wegent_chat_streams_active gauge" in after

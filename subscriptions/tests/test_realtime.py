"""``background:execution_update`` reaches the owner over ``/chat`` (a real server and the
python-socketio client); the run streams on the server's loop, as in the embedded mode."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db(transaction=True)
EVENT = "background:execution_update"


def test_owner_gets_execution_updates_and_others_do_not(live_server_url, user, other_user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, prompt_template="Status of {{subscription_name}}")

    async def scenario() -> None:
        alice = await connect(live_server_url, user)
        bob = await connect(live_server_url, other_user)
        for recorder in (alice, bob):
            recorder.client.on(EVENT, lambda data, r=recorder: r.record(EVENT, data), namespace="/chat")
        async with httpx.AsyncClient(base_url=live_server_url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {issue_access_token(user)}"}
            response = await http.post(f"/api/subscriptions/{sub.pk}/trigger", headers=headers)
        assert response.status_code == 200, response.text
        execution_id = response.json()["id"]
        done = await alice.wait_for(EVENT, lambda d: d["status"] == "COMPLETED", timeout=20)
        assert done["execution_id"] == execution_id and done["subscription_id"] == sub.pk
        assert done["result_summary"] == "w0 w1 w2 w3 w4" and done["is_silent"] is False
        assert done["task_id"] and done["subscription_display_name"] == "Daily digest"
        seen = [d["status"] for d in alice.named(EVENT)]
        assert seen[0] == "PENDING" and "RUNNING" in seen
        assert bob.named(EVENT) == []
        await alice.close()
        await bob.close()

    asyncio.run(scenario())

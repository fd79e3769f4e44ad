"""Two server processes sharing Redis (the scaled mode): a device connected to worker A gets a
task sent by a browser on worker B, its progress reaches the browser on B, and a cancel sent on
B reaches the device on A."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect
from chat.tests.workers import Worker
from devices.tests.executor_client import FakeExecutor
from devices.tests.factories import make_code_team
from tasks.models import Subtask

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers() -> Iterator[tuple[Worker, Worker]]:
    if not settings.REDIS_URL or connection.vendor == "sqlite":
        pytest.skip("several workers need Redis and a database server (scaled mode)")
    pair = (Worker(), Worker())
    try:
        for worker in pair:
            worker.wait_ready()
        yield pair
    finally:
        for worker in pair:
            worker.stop()


def test_device_on_one_worker_browser_on_another(workers, user):
    worker_a, worker_b = workers
    team = make_code_team(user)

    async def scenario() -> None:
        device = FakeExecutor()
        await device.connect(worker_a.url, issue_access_token(user))
        assert (await device.register())["success"] is True
        browser = await connect(worker_b.url, user)
        send = {"team_id": team.pk, "message": "refactor", "task_type": "task", "device_id": device.device_id}
        ack = await browser.call("chat:send", send)
        task = await device.wait_for("task:execute")
        assert task["task_id"] == ack["task_id"] and task["prompt"] == "refactor"
        start = await browser.wait_for("chat:start")
        assert start["subtask_id"] == task["subtask_id"]
        assert await device.progress(task, result={"value": "step one"}) == {"success": True}
        assert await device.progress(task, result={"value": "step one, two"}) == {"success": True}
        await browser.wait_for("chat:chunk", lambda c: c["content"] == ", two")
        chunks = [c for c in browser.named("chat:chunk") if c["subtask_id"] == task["subtask_id"]]
        assert [(c["offset"], c["content"]) for c in chunks] == [(0, "step one"), (8, ", two")]
        cancel = {"subtask_id": task["subtask_id"], "partial_content": "step one, two"}
        assert await browser.call("chat:cancel", cancel) == {"success": True}
        assert await device.wait_for("task:cancel") == {
            "subtask_id": task["subtask_id"],
            "task_id": ack["task_id"],
        }
        await browser.wait_for("chat:cancelled")
        await device.close()
        await browser.close()

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").status == "CANCELLED"

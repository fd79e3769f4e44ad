"""Reports on an executor team's answer continue the trace of the chat:send that queued it
(wegent/telemetry.py ``remember``/``resumed``): the executor manager's callback and a local
device's ``task:*`` events, through the real server on loopback, recorded in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from chat.tests.sockets import connect
from devices.tests.factories import make_code_team
from devices.tests.test_local_executor import executor
from tasks.models import Subtask
from wegent import telemetry
from wegent.tests.tracing import Recorder, parent_id, recording

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spans() -> Iterator[Recorder]:
    with recording() as exporter:
        yield exporter


def send(url: str, user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        client = await connect(url, user)
        ack = await client.call("chat:send", payload)
        await client.close()
        return ack

    return asyncio.run(scenario())


def test_an_executor_callback_joins_the_turns_trace(spans: Recorder, live_server_url, user, settings):
    settings.EXECUTOR_TOKEN = "executor-token-for-traces-0123"
    team = make_code_team(user, "tx")
    ack = send(live_server_url, user, {"team_id": team.pk, "message": "build it"})
    [root] = spans.wait_for("chat:send")
    answer = Subtask.objects.get(task_id=ack["task_id"], role=Subtask.ASSISTANT)

    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.EXECUTOR_TOKEN}")
    assert manager.post("/api/executors/tasks/dispatch").status_code == 200
    body = {"subtask_id": answer.pk, "status": "COMPLETED", "progress": 100, "result": {"value": "built"}}
    assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
    [update] = spans.wait_for("executor update")
    assert update.context.trace_id == root.context.trace_id
    assert update.attributes[telemetry.SUBTASK_ID] == answer.pk
    writes = [s for s in spans.in_trace(root.context.trace_id) if s.name == "db.write"]
    assert any(parent_id(s) == update.context.span_id for s in writes)

    # A callback for an answer no trace was kept for starts a trace of its own.
    spans.clear()
    manager.put("/api/executors/tasks", {**body, "subtask_id": 999999}, format="json")
    [orphan] = spans.wait_for("executor update")
    assert orphan.parent is None


def test_a_devices_reports_join_the_turns_trace(spans: Recorder, live_server_url, user):
    team = make_code_team(user, "td")

    async def scenario() -> dict[str, Any]:
        device = await executor(live_server_url, user)
        client = await connect(live_server_url, user)
        await client.call(
            "chat:send", {"team_id": team.pk, "message": "fix it", "device_id": device.device_id}
        )
        task = await device.wait_for("task:execute")
        assert await device.progress(task, result={"value": "working"}) == {"success": True}
        report = {**task, "status": "COMPLETED", "progress": 100, "result": {"value": "done"}}
        assert await device.call("task:complete", report) == {"success": True}
        await client.wait_for("chat:done")
        await device.close()
        await client.close()
        return task

    task = asyncio.run(scenario())
    [root] = spans.wait_for("chat:send")
    [progress] = spans.wait_for("device task:progress")
    [complete] = spans.wait_for("device task:complete")
    for report in (progress, complete):
        assert report.context.trace_id == root.context.trace_id
        assert report.attributes[telemetry.SUBTASK_ID] == task["subtask_id"]
    writes = [s for s in spans.in_trace(root.context.trace_id) if parent_id(s) == complete.context.span_id]
    assert any(s.name == "db.write" and s.attributes["db.operation"] == "UPDATE" for s in writes)

"""Pipeline teams on executors: a stage that asks for a confirmation waits for it
(PENDING_CONFIRMATION) when its answer completes, and the confirmed next stage runs, on the
executor manager (pull) or on the task's device."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from rest_framework.test import APIClient

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect
from devices.tests.executor_client import FakeExecutor
from devices.tests.factories import make_code_pipeline
from tasks import statuses
from tasks.models import Subtask, TaskResource

TOKEN = "executor-service-token-0123456789"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.EXECUTOR_TOKEN = TOKEN


@pytest.mark.django_db
def test_a_stage_waits_for_confirmation_then_the_next_one_is_dispatched(api, user, make_task):
    team = make_code_pipeline(user)
    turn = make_task(user, team, "plan and build", answer=None)
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    (first,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert [bot["name"] for bot in first["bot"]] == ["pp-plan"]
    body = {"subtask_id": first["subtask_id"], "status": "COMPLETED", "result": {"value": "the plan"}}
    assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
    assert Subtask.objects.get(pk=first["subtask_id"]).status == statuses.PENDING_CONFIRMATION
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.PENDING_CONFIRMATION
    confirm = {"confirmed_prompt": "the plan, approved", "action": "continue"}
    assert api.post(f"/api/tasks/{turn.task.pk}/confirm-stage", confirm, format="json").status_code == 200
    (second,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert [bot["name"] for bot in second["bot"]] == ["pp-build"]
    body = {"subtask_id": second["subtask_id"], "status": "COMPLETED", "result": {"value": "built"}}
    assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.COMPLETED  # the last stage


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_device_pipeline_stage_waits_and_the_confirmed_stage_goes_to_the_device(live_server_url, user):
    team = make_code_pipeline(user)
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}

    async def scenario() -> None:
        device = FakeExecutor()
        await device.connect(live_server_url, issue_access_token(user))
        await device.register()
        browser = await connect(live_server_url, user)
        send = {"team_id": team.pk, "message": "plan it", "task_type": "task", "device_id": device.device_id}
        ack = await browser.call("chat:send", send)
        first = await device.wait_for("task:execute")
        assert [bot["name"] for bot in first["bot"]] == ["pp-plan"]
        done = {"subtask_id": first["subtask_id"], "status": "COMPLETED", "result": {"value": "the plan"}}
        assert await device.call("task:complete", done) == {"success": True}
        await browser.wait_for("task:status", lambda s: s["status"] == "PENDING_CONFIRMATION")
        async with httpx.AsyncClient(base_url=live_server_url, headers=headers) as http:
            confirm = {"confirmed_prompt": "go on", "action": "continue"}
            response = await http.post(f"/api/tasks/{ack['task_id']}/confirm-stage", json=confirm)
            assert response.status_code == 200
        second = await device.wait_for("task:execute", lambda t: t["subtask_id"] != first["subtask_id"])
        assert [bot["name"] for bot in second["bot"]] == ["pp-build"]
        assert second["prompt"] == "go on"
        await device.close()
        await browser.close()

    asyncio.run(scenario())

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


def _put(manager: APIClient, task: dict, value: str, **extra: object) -> dict:
    body = {"subtask_id": task["subtask_id"], "status": "COMPLETED", "result": {"value": value}, **extra}
    response = manager.put("/api/executors/tasks", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_stages_without_confirmation_follow_each_other_and_the_last_ends_the_task(api, user, make_task):
    team = make_code_pipeline(user, stages=("plan", "build", "test"), confirm_first=False)
    turn = make_task(user, team, "plan, build and test", answer=None)
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    (first,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert [bot["name"] for bot in first["bot"]] == ["pp-plan"]
    assert first["prompt"] == "plan, build and test"
    _put(manager, first, "the plan", executor_name="exec-1", executor_namespace="ns")
    # The next stage waits for the poll; the task never showed COMPLETED in between.
    task = TaskResource.objects.get(pk=turn.task.pk)
    assert task.status == statuses.PENDING
    assert Subtask.objects.get(pk=first["subtask_id"]).status == statuses.COMPLETED
    (second,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert [bot["name"] for bot in second["bot"]] == ["pp-build"]
    assert second["prompt"] == "plan, build and test\n\n[Output of the previous stage, your input]\nthe plan"
    assert second["executor_name"] == "exec-1"  # the stage's executor runs the next one
    _put(manager, second, "built")
    (third,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert [bot["name"] for bot in third["bot"]] == ["pp-test"]
    assert third["prompt"].endswith("\nbuilt")
    _put(manager, third, "tested")
    task = TaskResource.objects.get(pk=turn.task.pk)
    assert task.status == statuses.COMPLETED and task.state["result"]["value"] == "tested"
    assert manager.post("/api/executors/tasks/dispatch").json()["tasks"] == []
    answers = Subtask.objects.filter(task=task, role=Subtask.ASSISTANT).order_by("message_id")
    assert [a.status for a in answers] == [statuses.COMPLETED] * 3


@pytest.mark.django_db
def test_a_failed_stage_ends_the_pipeline(user, make_task):
    team = make_code_pipeline(user, confirm_first=False)
    turn = make_task(user, team, "plan and build", answer=None)
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    (first,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    body = {"subtask_id": first["subtask_id"], "status": "FAILED", "error_message": "no plan"}
    assert manager.put("/api/executors/tasks", body, format="json").status_code == 200
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.FAILED
    assert manager.post("/api/executors/tasks/dispatch").json()["tasks"] == []
    assert Subtask.objects.filter(task_id=turn.task.pk, role=Subtask.ASSISTANT).count() == 1


@pytest.mark.django_db
def test_the_executor_renames_the_task_through_task_title(api, user, make_task):
    team = make_code_pipeline(user, confirm_first=False)
    turn = make_task(user, team, "plan and build", answer=None)
    manager = APIClient()
    manager.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    (first,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    running = {"subtask_id": first["subtask_id"], "status": "RUNNING", "task_title": "Fix the login bug"}
    assert manager.put("/api/executors/tasks", running, format="json").status_code == 200
    assert TaskResource.objects.get(pk=turn.task.pk).title == "Fix the login bug"
    assert api.get(f"/api/tasks/{turn.task.pk}").json()["title"] == "Fix the login bug"
    # An empty or absent title keeps it; the next stage's answer is titled after it.
    _put(manager, first, "the plan", task_title="")
    assert TaskResource.objects.get(pk=turn.task.pk).title == "Fix the login bug"
    (second,) = manager.post("/api/executors/tasks/dispatch").json()["tasks"]
    assert second["task_title"] == "Fix the login bug"
    assert second["subtask_title"] == "Fix the login bug - pp-build"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_device_stages_without_confirmation_run_one_after_the_other(live_server_url, user):
    team = make_code_pipeline(user, confirm_first=False)

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
        second = await device.wait_for("task:execute", lambda t: t["subtask_id"] != first["subtask_id"])
        assert [bot["name"] for bot in second["bot"]] == ["pp-build"]
        assert second["prompt"].endswith("[Output of the previous stage, your input]\nthe plan")
        await browser.wait_for("chat:start", lambda s: s["subtask_id"] == second["subtask_id"])
        # Progress then completion through task:progress alone (as Wegent's executor does).
        report = {"subtask_id": second["subtask_id"], "status": "RUNNING", "result": {"value": "bui"}}
        assert await device.call("task:progress", report) == {"success": True}
        report = {"subtask_id": second["subtask_id"], "status": "COMPLETED", "result": {"value": "built"}}
        assert await device.call("task:progress", report) == {"success": True}
        await browser.wait_for("chat:done", lambda d: d["subtask_id"] == second["subtask_id"])
        final = await browser.wait_for("task:status", lambda s: s["status"] == "COMPLETED")
        assert final["task_id"] == ack["task_id"]
        shown = [data["status"] for name, data in browser.events if name == "task:status"]
        assert shown.index("COMPLETED") == len(shown) - 1  # never COMPLETED between the stages
        await device.close()
        await browser.close()

    asyncio.run(scenario())
    answers = Subtask.objects.filter(role=Subtask.ASSISTANT).order_by("message_id")
    assert [(a.status, a.result["value"]) for a in answers] == [
        (statuses.COMPLETED, "the plan"),
        (statuses.COMPLETED, "built"),
    ]

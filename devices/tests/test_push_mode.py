"""Executor teams without a device: pull mode leaves the answer for the executor manager's
poll; push mode POSTs it to a (loopback stand-in) executor manager, with retries and the
``dispatch_failed`` ending; cancels reach its ``/tasks/cancel``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect
from devices.services import push
from devices.tests.executor_client import FakeExecutor
from devices.tests.factories import make_code_pipeline, make_code_team
from devices.tests.fake_executor_manager import FakeExecutorManager
from tasks import statuses
from tasks.models import Subtask
from tasks.services import lifecycle

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager(settings) -> Iterator[FakeExecutorManager]:
    with FakeExecutorManager() as server:
        settings.EXECUTOR_MANAGER_URL = server.url
        settings.EXECUTOR_DISPATCH_MODE = "push"
        settings.EXECUTOR_PUSH_RETRY_SECONDS = 0.0
        yield server


def _send(team) -> dict:
    return {"team_id": team.pk, "message": "build it", "task_type": "code"}


def test_pull_mode_leaves_the_answer_for_the_poll(live_server_url, user, settings):
    settings.EXECUTOR_DISPATCH_MODE = "pull"
    team = make_code_team(user)

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        ack = await browser.call("chat:send", _send(team))
        assert "task_id" in ack
        await browser.close()
        assert browser.named("chat:start") == []

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").status == statuses.PENDING


def test_push_mode_posts_the_task_to_the_executor_manager(live_server_url, user, manager):
    team = make_code_team(user)

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        ack = await browser.call("chat:send", _send(team))
        start = await browser.wait_for("chat:start")
        assert start["shell_type"] == "ClaudeCode" and start["task_id"] == ack["task_id"]
        await browser.close()

    asyncio.run(scenario())
    (path, headers, body) = manager.wait_for("/tasks/receive")[0]
    (task,) = body["tasks"]
    assert path.endswith("?queue_type=offline")  # a code task is the offline queue
    assert headers["Authorization"] == f"Bearer {task['auth_token']}"
    answer = Subtask.objects.get(role="ASSISTANT")
    assert task["subtask_id"] == answer.pk and task["prompt"] == "build it"
    assert answer.status == statuses.RUNNING


def test_push_failures_end_the_answer_dispatch_failed(live_server_url, user, manager, settings):
    manager.status = 503
    settings.EXECUTOR_PUSH_ATTEMPTS = 2
    team = make_code_team(user)

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        ack = await browser.call("chat:send", _send(team))
        status = await browser.wait_for("task:status", lambda s: s["status"] == "FAILED")
        assert status["task_id"] == ack["task_id"]
        await browser.close()

    asyncio.run(scenario())
    assert len(manager.to("/tasks/receive")) == 2
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == statuses.FAILED
    assert answer.error_message == "Failed to dispatch the task to the executor manager"
    # The event it sends (the eager test Celery runs the push before the sender joined the room).
    assert push.push(answer.pk) == []  # an ended answer is not pushed again


def test_the_dispatch_failed_event(user, manager, settings, make_task):
    manager.status = 500
    settings.EXECUTOR_PUSH_ATTEMPTS = 1
    team = make_code_team(user)
    turn = make_task(user, team, "x", answer=None)
    Subtask.objects.filter(pk=turn.assistant_subtask.pk).update(status=statuses.RUNNING)
    (event,) = push.push(turn.assistant_subtask.pk)
    assert event.event == "chat:error"
    assert (
        event.payload["type"] == "dispatch_failed"
        and event.payload["subtask_id"] == turn.assistant_subtask.pk
    )


def test_cancel_reaches_the_executor_manager(live_server_url, user, manager):
    team = make_code_team(user)

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        ack = await browser.call("chat:send", _send(team))
        start = await browser.wait_for("chat:start")
        cancel = {"subtask_id": start["subtask_id"], "partial_content": "half"}
        assert await browser.call("chat:cancel", cancel) == {"success": True}
        await browser.wait_for("chat:cancelled")
        done = await browser.wait_for("chat:done")
        assert done["result"]["value"] == "half"
        await browser.close()
        (_, _, body) = manager.wait_for("/tasks/cancel")[0]
        assert body == {"task_id": ack["task_id"]}

    asyncio.run(scenario())
    assert Subtask.objects.get(role="ASSISTANT").status == statuses.CANCELLED


def test_tasks_made_over_rest_are_pushed_too(live_server_url, user, manager):
    team = make_code_team(user)
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}
    body = {"prompt": "from the API", "team_id": team.pk, "task_type": "code"}
    response = httpx.post(f"{live_server_url}/api/tasks/create", json=body, headers=headers, timeout=30)
    assert response.status_code == 201
    (_, _, pushed) = manager.wait_for("/tasks/receive")[0]
    assert pushed["tasks"][0]["prompt"] == "from the API"
    assert Subtask.objects.get(role="ASSISTANT").status == statuses.RUNNING


def test_tasks_made_over_rest_wait_for_the_poll_in_pull_mode(live_server_url, user, settings):
    settings.EXECUTOR_TOKEN = "executor-service-token-0123456789"
    team = make_code_team(user)
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}
    body = {"prompt": "from the API", "team_id": team.pk, "task_type": "code"}
    assert (
        httpx.post(f"{live_server_url}/api/tasks/create", json=body, headers=headers, timeout=30).status_code
        == 201
    )
    manager_headers = {"Authorization": "Bearer executor-service-token-0123456789"}
    claimed = httpx.post(f"{live_server_url}/api/executors/tasks/dispatch", headers=manager_headers).json()
    assert [task["prompt"] for task in claimed["tasks"]] == ["from the API"]


def test_the_next_pipeline_stage_is_pushed_when_a_stage_completes(live_server_url, user, manager, settings):
    settings.EXECUTOR_TOKEN = "executor-service-token-0123456789"
    team = make_code_pipeline(user, confirm_first=False)
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}
    body = {"prompt": "plan and build", "team_id": team.pk, "task_type": "code"}
    assert (
        httpx.post(f"{live_server_url}/api/tasks/create", json=body, headers=headers, timeout=30).status_code
        == 201
    )
    (_, _, pushed) = manager.wait_for("/tasks/receive")[0]
    (first,) = pushed["tasks"]
    assert [bot["name"] for bot in first["bot"]] == ["pp-plan"]
    callback = {"subtask_id": first["subtask_id"], "status": "COMPLETED", "result": {"value": "the plan"}}
    service = {"Authorization": "Bearer executor-service-token-0123456789"}
    response = httpx.put(f"{live_server_url}/api/executors/tasks", json=callback, headers=service, timeout=30)
    assert response.status_code == 200
    (_, _, pushed) = manager.wait_for("/tasks/receive", count=2)[1]
    (second,) = pushed["tasks"]
    assert [bot["name"] for bot in second["bot"]] == ["pp-build"]
    assert second["prompt"].endswith("\nthe plan")
    assert Subtask.objects.get(pk=second["subtask_id"]).status == statuses.RUNNING


def _finish(subtask_id: int, value: str) -> None:
    lifecycle.update_subtask(
        subtask_id, lifecycle.SubtaskChanges(status=statuses.COMPLETED, result={"value": value})
    )


def test_a_follow_up_sent_to_a_device_goes_to_the_device_not_the_executor_manager(
    live_server_url, user, manager
):
    team = make_code_team(user)

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        first = await browser.call("chat:send", _send(team))
        (_, _, pushed) = (await asyncio.to_thread(manager.wait_for, "/tasks/receive"))[0]
        await asyncio.to_thread(_finish, pushed["tasks"][0]["subtask_id"], "pushed answer")
        device = FakeExecutor()
        await device.connect(live_server_url, issue_access_token(user))
        await device.register()
        follow = {**_send(team), "task_id": first["task_id"], "message": "now on my machine"}
        follow["device_id"] = device.device_id
        assert (await browser.call("chat:send", follow))["task_id"] == first["task_id"]
        task = await device.wait_for("task:execute")
        assert task["task_id"] == first["task_id"] and task["prompt"] == "now on my machine"
        # A further follow-up that names no device stays on the task's device.
        done = {"subtask_id": task["subtask_id"], "status": "COMPLETED", "result": {"value": "done"}}
        assert await device.call("task:complete", done) == {"success": True}
        await browser.wait_for("task:status", lambda s: s["status"] == "COMPLETED")
        again = {**_send(team), "task_id": first["task_id"], "message": "more"}
        assert "task_id" in await browser.call("chat:send", again)
        more = await device.wait_for("task:execute", lambda t: t["subtask_id"] != task["subtask_id"])
        assert more["prompt"] == "more"
        await device.close()
        await browser.close()

    asyncio.run(scenario())
    assert len(manager.to("/tasks/receive")) == 1  # only the first turn was pushed
    answers = Subtask.objects.filter(role="ASSISTANT").order_by("message_id")
    assert [a.executor_name.startswith("device-") for a in answers] == [False, True, True]

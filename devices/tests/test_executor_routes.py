"""``/api/executors/*`` for Wegent's executor manager (reference realtime §5.2): the service
token, the atomic claim (two pollers never get the same answer), the task payload, and the
callback rules; a real HTTP client against the real server where events matter."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from rest_framework.test import APIClient

from chat.tests.sockets import connect
from devices.tests.factories import make_code_team, make_device
from tasks import statuses
from tasks.models import Subtask, TaskResource

TOKEN = "executor-service-token-0123456789"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.EXECUTOR_TOKEN = TOKEN


@pytest.fixture
def manager() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client


def _pending(user, make_task, count: int = 1, **options):
    team = make_code_team(user)
    return [make_task(user, team, f"job {i}", answer=None, **options) for i in range(count)]


@pytest.mark.django_db
def test_the_routes_need_the_service_token(anon_client, api, settings, user, make_task):
    _pending(user, make_task)
    for client in (anon_client, api):  # a user's JWT is not the service token
        assert client.post("/api/executors/tasks/dispatch").status_code == 401
        assert client.put("/api/executors/tasks", {"subtask_id": 1, "status": "RUNNING"}).status_code == 401
    wrong = APIClient()
    wrong.credentials(HTTP_X_EXECUTOR_TOKEN="nope")
    assert wrong.post("/api/executors/tasks/dispatch").status_code == 401
    header = APIClient()
    header.credentials(HTTP_X_EXECUTOR_TOKEN=TOKEN)
    assert header.post("/api/executors/tasks/dispatch").status_code == 200
    settings.EXECUTOR_TOKEN = ""  # none configured: nobody gets in
    assert header.post("/api/executors/tasks/dispatch").status_code == 401
    assert set(Subtask.objects.filter(role="ASSISTANT").values_list("status", flat=True)) == {
        statuses.RUNNING
    }


@pytest.mark.django_db
def test_dispatch_claims_pending_answers_with_their_payload(manager, user, make_task):
    (turn,) = _pending(user, make_task)
    body = manager.post("/api/executors/tasks/dispatch?limit=5").json()
    assert len(body["tasks"]) == 1
    task = body["tasks"][0]
    assert task["subtask_id"] == turn.assistant_subtask.pk and task["task_id"] == turn.task.pk
    assert task["prompt"] == "job 0" and task["type"] == "online" and task["status"] == "RUNNING"
    assert task["bot"][0]["agent_config"]["env"]["api_key"] == "sk-device-secret-0123456789"
    assert task["auth_token"] and task["user"]["name"] == "alice"
    assert manager.post("/api/executors/tasks/dispatch?limit=5").json() == {"tasks": []}
    assert TaskResource.objects.get(pk=turn.task.pk).status == statuses.RUNNING


@pytest.mark.django_db
def test_dispatch_leaves_devices_tasks_and_other_queues(manager, user, make_task):
    make_device(user, "hw-aaaaaaaaaaaa")
    _pending(user, make_task, device_id="hw-aaaaaaaaaaaa")
    assert manager.post("/api/executors/tasks/dispatch").json() == {"tasks": []}
    assert manager.post("/api/executors/tasks/dispatch?type=offline").json() == {"tasks": []}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=x", "limit=101", "task_status=BOGUS", "type=later", "task_ids=1,,2", "task_ids=a"],
)
def test_dispatch_refuses_bad_queries(manager, query):
    assert manager.post(f"/api/executors/tasks/dispatch?{query}").status_code == 422


@pytest.mark.django_db(transaction=True)
def test_two_pollers_never_get_the_same_answer(live_server_url, user, make_task, settings):
    turns = _pending(user, make_task, 6)
    got: list[list[int]] = []
    barrier = threading.Barrier(3)

    def poll() -> None:
        barrier.wait()
        with httpx.Client(base_url=live_server_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            tasks = http.post("/api/executors/tasks/dispatch", params={"limit": 6}).json()["tasks"]
        got.append([task["subtask_id"] for task in tasks])

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [subtask_id for batch in got for subtask_id in batch]
    assert sorted(claimed) == sorted(turn.assistant_subtask.pk for turn in turns)  # each exactly once


def _put(manager, subtask_id: int, task_id: int | None = None, **fields):
    query = f"?task_id={task_id}" if task_id is not None else ""
    return manager.put(f"/api/executors/tasks{query}", {"subtask_id": subtask_id, **fields}, format="json")


@pytest.mark.django_db
def test_callbacks_follow_the_reference_rules(manager, user, make_task):
    (turn,) = _pending(user, make_task)
    manager.post("/api/executors/tasks/dispatch")
    answer, task_id = turn.assistant_subtask.pk, turn.task.pk
    step1, step2 = {"title": "read"}, {"title": "edit"}
    response = _put(
        manager, answer, task_id, status="RUNNING", progress=30, result={"value": "Hel", "thinking": [step1]}
    )
    assert response.status_code == 200
    assert response.json() == {
        "subtask_id": answer,
        "task_id": task_id,
        "status": "RUNNING",
        "progress": 30,
        "message": "Subtask updated successfully",
    }
    _put(manager, answer, status="RUNNING", result={"value": "", "thinking": [step1, step2]})
    row = Subtask.objects.get(pk=answer)
    assert row.result["value"] == "Hel" and row.result["thinking"] == [step1, step2]
    _put(manager, answer, status="FAILED", error_message="container died", result={"value": "Hello"})
    row.refresh_from_db()
    assert row.status == "FAILED" and row.error_message == "container died"
    assert row.result["thinking"] == [step1, step2] and row.result["value"] == "Hello"
    assert TaskResource.objects.get(pk=task_id).status == "FAILED"
    late = _put(manager, answer, status="COMPLETED", result={"value": "too late"})
    assert late.status_code == 400
    row.refresh_from_db()
    assert row.status == "FAILED" and row.result["value"] == "Hello"


@pytest.mark.django_db
def test_bad_callbacks_are_refused(manager, user, other_user, make_task):
    (turn,) = _pending(user, make_task)
    (other,) = _pending(other_user, make_task)
    manager.post("/api/executors/tasks/dispatch?limit=2")
    answer = turn.assistant_subtask.pk
    assert _put(manager, 999999, status="RUNNING").status_code == 404
    assert _put(manager, answer, other.task.pk, status="RUNNING").status_code == 404  # not that task's
    assert _put(manager, turn.user_subtask.pk, status="RUNNING").status_code == 404  # not an answer
    for bad in (
        {"status": "DONE"},
        {"status": "RUNNING", "progress": 101},
        {"status": "RUNNING", "result": []},
        {"status": "RUNNING", "result": {"value": "a\x00b"}},
        {"status": "FAILED", "error_message": "nul \x00 here"},
    ):
        assert _put(manager, answer, **bad).status_code == 422
    assert manager.put("/api/executors/tasks", [1, 2], format="json").status_code == 422
    assert _put(manager, 2**63, status="RUNNING").status_code == 422
    assert Subtask.objects.get(pk=answer).result is None


@pytest.mark.django_db(transaction=True)
def test_the_browser_sees_the_executors_work(live_server_url, user, make_task):
    (turn,) = _pending(user, make_task)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def scenario() -> None:
        browser = await connect(live_server_url, user)
        await browser.call("task:join", {"task_id": turn.task.pk})
        async with httpx.AsyncClient(base_url=live_server_url, headers=headers) as http:
            (task,) = (await http.post("/api/executors/tasks/dispatch")).json()["tasks"]
            start = await browser.wait_for("chat:start")
            assert start["subtask_id"] == task["subtask_id"] and start["shell_type"] == "ClaudeCode"
            for value in ("Hello", "Hello world"):
                body = {"subtask_id": task["subtask_id"], "status": "RUNNING", "result": {"value": value}}
                assert (await http.put("/api/executors/tasks", json=body)).status_code == 200
            await browser.wait_for("chat:chunk", lambda c: c["content"] == " world")
            body = {
                "subtask_id": task["subtask_id"],
                "status": "COMPLETED",
                "progress": 100,
                "result": {"value": "Hello world"},
            }
            assert (await http.put("/api/executors/tasks", json=body)).status_code == 200
        done = await browser.wait_for("chat:done")
        assert done["result"]["value"] == "Hello world" and done["result"]["shell_type"] == "ClaudeCode"
        chunks = [(c["offset"], c["content"]) for c in browser.named("chat:chunk")]
        assert chunks == [(0, "Hello"), (5, " world")]
        await browser.wait_for("task:status", lambda s: s["status"] == "COMPLETED")
        await browser.close()

    asyncio.run(scenario())

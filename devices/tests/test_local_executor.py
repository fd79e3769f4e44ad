"""``/local-executor`` against the real server on a loopback port: a python-socketio client that
behaves as Wegent's local executor, and a browser client on ``/chat`` (reference realtime §4)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from accounts.roles import KeyType
from accounts.services import api_keys
from accounts.services.tokens import issue_access_token
from audit.models import AuditEntry
from chat.tests.sockets import Recorder, connect
from devices import presence
from devices.tests.executor_client import FakeExecutor
from devices.tests.factories import make_code_team, make_device
from kinds.models import Kind
from tasks.models import Subtask, TaskResource

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

DEVICE_EVENTS = ("device:online", "device:offline", "device:slot_update", "device:status")


async def browser(url: str, user: Any) -> Recorder:
    recorder = await connect(url, user)
    for event in DEVICE_EVENTS:
        recorder.client.on(event, lambda data, event=event: recorder.record(event, data), namespace="/chat")
    return recorder


async def executor(url: str, user: Any, device_id: str = "hw-0123456789ab") -> FakeExecutor:
    device = FakeExecutor(device_id)
    await device.connect(url, issue_access_token(user))
    assert await device.register() == {"success": True, "device_id": device_id}
    return device


def run(scenario: Any) -> None:
    asyncio.run(scenario())


# --- connecting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        (None, "Missing authentication token"),
        ("", "Missing authentication token"),
        ("not-a-jwt", "Invalid or expired token"),
        ("wg-not-a-key", "Invalid or expired API key"),
    ],
)
def test_connect_is_refused_without_valid_credentials(live_server_url, token, refusal):
    async def scenario() -> None:
        device = FakeExecutor()
        with pytest.raises(Exception):
            await device.connect(live_server_url, token)
        assert device.refusal == {"message": refusal}

    run(scenario)


def test_personal_api_keys_connect_and_service_keys_do_not(live_server_url, user):
    _, personal = api_keys.create_key(owner=user, name="laptop")
    _, service = api_keys.create_key(owner=user, name="svc", key_type=KeyType.SERVICE)

    async def scenario() -> None:
        device = FakeExecutor()
        await device.connect(live_server_url, f"Bearer {personal}")
        assert await device.register() == {"success": True, "device_id": device.device_id}
        await device.close()
        refused = FakeExecutor()
        with pytest.raises(Exception):
            await refused.connect(live_server_url, service)
        assert refused.refusal == {"message": "Invalid or expired API key"}

    run(scenario)
    assert Kind.objects.get(kind="Device").owner_id == user.pk


# --- registering and heartbeats -----------------------------------------------------------------


def test_register_heartbeat_and_status_reach_the_browser(live_server_url, user):
    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        online = await watcher.wait_for("device:online")
        assert online == {"device_id": device.device_id, "name": "Linux - box", "status": "online"}
        assert await device.heartbeat([]) == {"success": True}
        slots = await watcher.wait_for("device:slot_update")
        assert slots == {"device_id": device.device_id, "slot_used": 0, "slot_max": 5, "running_tasks": []}
        status = {"device_id": device.device_id, "status": "busy"}
        assert await device.call("device:status", status) == {"success": True}
        assert await watcher.wait_for("device:status") == status
        await device.close()
        assert await watcher.wait_for("device:offline") == {"device_id": device.device_id}
        await watcher.close()

    run(scenario)
    row = Kind.objects.get(kind="Device")
    assert row.name == "hw-0123456789ab" and row.spec["isDefault"] is True
    # The registration is in the audit trail (the reconnect-free run writes the row once).
    entry = AuditEntry.objects.get(action="device.register")
    assert (entry.via, entry.actor_id, entry.object_type, entry.object_id) == (
        "socket",
        user.pk,
        "Device",
        str(row.pk),
    )
    assert entry.route == "device:register" and entry.ip_address
    assert row.spec["deviceType"] == "local" and row.spec["connectionMode"] == "websocket"
    assert presence.get(user.pk, "hw-0123456789ab") is None


def test_bad_device_events_get_error_acks_and_change_nothing(live_server_url, user):
    async def scenario() -> None:
        device = FakeExecutor("x" * 101)
        await device.connect(live_server_url, issue_access_token(user))
        assert (await device.heartbeat())["error"].startswith("Invalid payload: device_id")
        unregistered = {"device_id": "hw-0123456789ab"}
        assert await device.call("device:heartbeat", unregistered) == {
            "error": "Not authenticated or not registered"
        }
        assert (await device.call("task:progress", {"subtask_id": 1}))["error"] == (
            "Not authenticated or not registered"
        )
        assert (await device.register())["error"].startswith("Invalid payload: device_id")
        for bad in (None, [], "text", {"device_id": "ok-id"}, {"device_id": "has space", "name": "n"}):
            assert (await device.call("device:register", bad))["error"].startswith("Invalid payload")
        device.device_id = "hw-0123456789ab"
        assert (await device.register())["success"] is True
        assert await device.call("device:heartbeat", {"device_id": "hw-other"}) == {
            "error": "Device ID mismatch"
        }
        bad_heartbeat = {"device_id": device.device_id, "running_task_ids": "x"}
        assert (await device.call("device:heartbeat", bad_heartbeat))["error"].startswith("Invalid payload")
        bad_status = {"device_id": device.device_id, "status": "asleep"}
        assert (await device.call("device:status", bad_status))["error"].startswith("Invalid payload")
        assert await device.call("task:progress", {}) == {"error": "Missing subtask_id"}
        bad_id = await device.call("task:progress", {"subtask_id": "x"})
        assert bad_id["error"].startswith("Invalid payload: subtask_id")
        huge = await device.call("task:complete", {"subtask_id": 2**70})
        assert huge["error"].startswith("Invalid payload: subtask_id")
        assert await device.call("task:result", {"subtask_id": 999999}) == {"error": "Subtask not found"}
        await device.close()

    run(scenario)
    assert list(Kind.objects.filter(kind="Device").values_list("name", flat=True)) == ["hw-0123456789ab"]


# --- running a task ---------------------------------------------------------------------------


def _send(team: Kind, device_id: str | None, message: str = "fix the bug") -> dict[str, Any]:
    return {"team_id": team.pk, "message": message, "task_type": "task", "device_id": device_id}


def test_a_task_runs_on_the_device_and_streams_to_the_browser(live_server_url, user):
    team = make_code_team(user)

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        ack = await watcher.call("chat:send", _send(team, device.device_id))
        assert set(ack) == {"task_id", "subtask_id", "message_id"}
        start = await watcher.wait_for("chat:start")
        assert start["shell_type"] == "ClaudeCode" and start["task_id"] == ack["task_id"]
        task = await device.wait_for("task:execute")
        assert task["subtask_id"] == start["subtask_id"] and task["task_id"] == ack["task_id"]
        assert task["prompt"] == "fix the bug" and task["executor_name"] == f"device-{device.device_id}"
        assert task["executor_namespace"] == f"user-{user.pk}"
        bot = task["bot"][0]
        assert bot["shell_type"] == "ClaudeCode" and bot["system_prompt"] == "You write code."
        assert bot["agent_config"]["env"]["api_key"] == "sk-device-secret-0123456789"
        assert bot["mcp_servers"] == {"git": {"url": "http://x"}}
        assert task["user"]["name"] == "alice" and task["auth_token"] and task["task_token"]
        slots = await watcher.wait_for("device:slot_update", lambda s: s["slot_used"] == 1)
        assert slots["running_tasks"][0]["subtask_id"] == task["subtask_id"]

        thinking = [{"title": "Reading files", "next_action": "continue", "details": {}}]
        ack = await device.progress(task, progress=10, message="${{thinking.task_started}}")
        assert ack == {"success": True}
        assert await device.progress(task, result={"thinking": thinking}) == {"success": True}
        assert await device.progress(task, result={"value": "Hello", "thinking": thinking}) == {
            "success": True
        }
        assert await device.progress(task, result={"value": "Hello world", "thinking": thinking}) == {
            "success": True
        }
        await watcher.wait_for("chat:chunk", lambda c: c["content"] == " world")
        # Joining mid-stream gives the exact text so far (the stream state chat's joins read).
        late = await browser(live_server_url, user)
        joined = await late.call("task:join", {"task_id": task["task_id"]})
        assert joined["streaming"]["subtask_id"] == task["subtask_id"]
        assert (joined["streaming"]["offset"], joined["streaming"]["cached_content"]) == (11, "Hello world")
        await late.close()
        final = {"value": "Hello world!", "thinking": thinking, "workbench": {"status": "completed"}}
        assert await device.progress(task, status="COMPLETED", progress=100, result=final) == {
            "success": True
        }
        done = await watcher.wait_for("chat:done")
        assert done["result"]["value"] == "Hello world!" and done["offset"] == len("Hello world!")
        assert done["message_id"] == start["message_id"]
        chunks = [c for c in watcher.named("chat:chunk") if c["subtask_id"] == task["subtask_id"]]
        assert [(c["offset"], c["content"]) for c in chunks] == [(0, ""), (0, "Hello"), (5, " world")]
        assert all(c["task_id"] == task["task_id"] and c["result"]["thinking"] == thinking for c in chunks)
        status = await watcher.wait_for("task:status", lambda s: s["status"] == "COMPLETED")
        assert status["task_id"] == task["task_id"]
        # The executor's closing task:result comes after completion: it changes nothing.
        ack = await device.call("task:result", {"subtask_id": task["subtask_id"], "status": "FAILED"})
        assert ack == {"error": "Subtask is not running"}
        await device.close()
        await watcher.close()

    run(scenario)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "COMPLETED" and answer.result["value"] == "Hello world!"
    assert TaskResource.objects.get(kind="Task").status == "COMPLETED"


def test_a_failure_reported_only_through_task_result_ends_the_task(live_server_url, user):
    team = make_code_team(user)

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        await watcher.call("chat:send", _send(team, device.device_id))
        task = await device.wait_for("task:execute")
        await device.progress(task, result={"value": "partial"})
        report = {**task, "status": "FAILED", "result": {"value": "partial"}, "message": "claude crashed"}
        assert await device.call("task:result", report) == {"success": True}
        error = await watcher.wait_for("chat:error")
        assert error["error"] == "claude crashed" and error["subtask_id"] == task["subtask_id"]
        await watcher.wait_for("task:status", lambda s: s["status"] == "FAILED")
        await device.close()
        await watcher.close()

    run(scenario)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert (answer.status, answer.error_message) == ("FAILED", "claude crashed")
    assert answer.result["value"] == "partial"
    assert TaskResource.objects.get(kind="Task").status == "FAILED"


def test_cancel_reaches_the_device_and_ends_the_answer(live_server_url, user):
    team = make_code_team(user)

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        ack = await watcher.call("chat:send", _send(team, device.device_id))
        task = await device.wait_for("task:execute")
        await device.progress(task, result={"value": "working"})
        cancel = {"subtask_id": task["subtask_id"], "partial_content": "working"}
        assert await watcher.call("chat:cancel", cancel) == {"success": True}
        assert await device.wait_for("task:cancel") == {
            "subtask_id": task["subtask_id"],
            "task_id": ack["task_id"],
        }
        await watcher.wait_for("chat:cancelled")
        done = await watcher.wait_for("chat:done")
        assert done["result"]["value"] == "working"
        await watcher.wait_for("task:status", lambda s: s["status"] == "CANCELLED")
        joiner = await browser(live_server_url, user)
        assert (await joiner.call("task:join", {"task_id": ack["task_id"]}))["streaming"] is None
        await joiner.close()
        late = await device.progress(task, status="CANCELLED", result={"value": "working more"})
        assert late == {"error": "Subtask is not running"}
        assert await watcher.call("task:close-session", {"task_id": ack["task_id"]}) == {"success": True}
        assert await device.wait_for("task:close-session") == {"task_id": ack["task_id"]}
        await device.close()
        await watcher.close()

    run(scenario)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "CANCELLED" and answer.result["value"] == "working"


def test_a_disconnect_mid_task_fails_its_answers(live_server_url, user):
    team = make_code_team(user)

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        await watcher.call("chat:send", _send(team, device.device_id))
        task = await device.wait_for("task:execute")
        await device.progress(task, result={"value": "half"})
        await device.progress(task, result={"value": "half and more"})  # saved behind its chunk
        await watcher.wait_for("chat:chunk", lambda c: c["content"] == " and more")
        await device.close()
        error = await watcher.wait_for("chat:error")
        assert error["error"] == "Device disconnected" and error["subtask_id"] == task["subtask_id"]
        await watcher.wait_for("device:offline")
        await watcher.wait_for("task:status", lambda s: s["status"] == "FAILED")
        await watcher.close()

    run(scenario)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.status == "FAILED" and answer.error_message == "Device disconnected unexpectedly"
    assert answer.result["value"] == "half and more"


def test_an_offline_device_fails_the_answer_at_once(live_server_url, user, other_user):
    team = make_code_team(user)
    make_device(user, "hw-offline00000", online=False)
    make_device(other_user, "hw-bobs0000000")  # online, but not alice's

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        for device_id in ("hw-offline00000", "hw-bobs0000000", "hw-unknown0000"):
            ack = await watcher.call("chat:send", _send(team, device_id))
            assert "task_id" in ack
            error = await watcher.wait_for("chat:error", lambda e, t=ack["task_id"]: e["task_id"] == t)
            assert error["error"] == "Selected device is offline"
        await watcher.close()

    run(scenario)
    assert set(Subtask.objects.filter(role="ASSISTANT").values_list("status", flat=True)) == {"FAILED"}


def test_a_device_cannot_report_into_another_users_answer(live_server_url, user, other_user):
    team = make_code_team(user)

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        intruder = await executor(live_server_url, other_user, "hw-intruder000")
        second = await executor(live_server_url, user, "hw-second000000")
        await watcher.call("chat:send", _send(team, device.device_id))
        task = await device.wait_for("task:execute")
        hijack = {"result": {"value": "pwned"}, "status": "COMPLETED"}
        assert await intruder.progress(task, **hijack) == {"error": "Subtask not found"}
        assert await intruder.call("task:complete", {"subtask_id": task["subtask_id"]}) == {
            "error": "Subtask not found"
        }
        assert await second.progress(task, **hijack) == {"error": "Subtask does not belong to this device"}
        user_message = task["subtask_id"] - 1
        assert await device.progress({**task, "subtask_id": user_message}) == {"error": "Subtask not found"}
        for client in (device, intruder, second, watcher):
            await client.close()

    run(scenario)
    answer = Subtask.objects.get(role="ASSISTANT")
    assert answer.result is None or answer.result.get("value") != "pwned"


def test_rest_cancel_and_delete_reach_the_device(live_server_url, user):
    team = make_code_team(user)
    headers = {"Authorization": f"Bearer {issue_access_token(user)}"}

    async def scenario() -> None:
        watcher = await browser(live_server_url, user)
        device = await executor(live_server_url, user)
        ack = await watcher.call("chat:send", _send(team, device.device_id))
        task = await device.wait_for("task:execute")
        async with httpx.AsyncClient(base_url=live_server_url, headers=headers) as http:
            response = await http.post(f"/api/tasks/{ack['task_id']}/cancel")
            assert response.json()["status"] == "CANCELLING"
            assert await device.wait_for("task:cancel") == {
                "subtask_id": task["subtask_id"],
                "task_id": ack["task_id"],
            }
            # The device stops and says so (its agent reports CANCELLED through progress).
            stopped = await device.progress(task, status="CANCELLED", result={"value": "stopped"})
            assert stopped == {"success": True}
            await watcher.wait_for("task:status", lambda s: s["status"] == "CANCELLED")
            assert (await http.delete(f"/api/tasks/{ack['task_id']}")).status_code in (200, 204)
        assert await device.wait_for("task:close-session") == {"task_id": ack["task_id"]}
        await device.close()
        await watcher.close()

    run(scenario)


JUNK = [
    None,
    [],
    "text",
    5,
    2**70,
    {"device_id": None},
    {"subtask_id": None},
    {"subtask_id": True},
    {"subtask_id": 1, "result": "not an object"},
    {"subtask_id": 1, "progress": 500},
    {"subtask_id": 1, "status": "x" * 51},
    {"device_id": "\x00"},
    {"device_id": "a" * 10_000},
    {"subtask_id": 1, "result": {"value": "a\x00b"}},
]


def test_junk_on_every_event_gets_an_error_ack_never_a_crash(live_server_url, user):
    async def scenario() -> None:
        device = FakeExecutor()
        await device.connect(live_server_url, issue_access_token(user))
        for registered in (False, True):
            if registered:
                await device.register()
            for event in (
                "device:register",
                "device:heartbeat",
                "device:status",
                "task:progress",
                "task:complete",
                "task:result",
            ):
                for junk in JUNK:
                    ack = await device.call(event, junk)
                    assert isinstance(ack, dict) and "error" in ack, (event, junk, ack)
                    assert ack["error"] != "Internal server error", (event, junk)
            assert (await device.call("no:such-event", {}))["error"].startswith("Unknown event")
        await device.close()

    run(scenario)
    assert Kind.objects.filter(kind="Device").count() == 1

"""``skill:request`` / ``skill:response`` (reference realtime §7.1) with a browser stand-in: a
python-socketio client on /chat that answers the server's requests.

The request is started inside the server by ``chat.tests.skill_probe`` (a test-only namespace
running a real ``BrowserTool``): on the in-process live server, and in a two-worker setup where
the request waits on worker A and the browser is connected to worker B (Redis carries the
request to B and the answer back to A).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from django.conf import settings as django_settings
from django.db import connection

from chat.tests import skill_probe
from chat.tests.sockets import Recorder, connect
from chat.tests.workers import Worker

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def probe() -> Iterator[None]:
    skill_probe.register()
    yield
    skill_probe.unregister()


async def _driver(url: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, namespaces=[skill_probe.PATH], transports=["websocket"], wait_timeout=10)
    return client


def _ask(driver: socketio.AsyncClient, user: Any, task_id: int, **fields: Any) -> asyncio.Task[Any]:
    """Starts a request in the server; the task ends with the tool's result or error."""
    data = {"user_id": user.pk, "task_id": task_id, "skill_name": "mermaid-diagram", "action": "render"}
    data.update(fields)
    return asyncio.ensure_future(driver.call("ask", data, namespace=skill_probe.PATH, timeout=60))


async def _browser(url: str, user: Any, task_id: int) -> Recorder:
    browser = await connect(url, user)
    joined = await browser.call("task:join", {"task_id": task_id})
    assert "error" not in joined, joined
    return browser


def _respond(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"request_id": request["request_id"], "skill_name": request["skill_name"], **fields}


def test_round_trip_with_a_browser(live_server_url, probe, user, team, make_task):
    task_id = make_task(user, team).task.pk

    async def scenario() -> None:
        browser = await _browser(live_server_url, user, task_id)
        driver = await _driver(live_server_url)
        asked = _ask(driver, user, task_id, data={"code": "graph TD; A-->B"})
        request = await browser.wait_for("skill:request")
        assert set(request) == {"request_id", "skill_name", "action", "data"}
        assert request["skill_name"] == "mermaid-diagram" and request["action"] == "render"
        assert request["data"] == {"code": "graph TD; A-->B"}
        ack = await browser.call(
            "skill:response", _respond(request, action="render", success=True, result={"svg": "<svg/>"})
        )
        assert ack == {"success": True}
        assert await asked == {"result": '{"svg":"<svg/>"}'}
        # Answered once: a second answer finds nothing.
        again = await browser.call("skill:response", _respond(request, success=True, result="x"))
        assert again == {"error": "No pending request found"}

        # A failure the browser reports (the web client's error object) reaches the model.
        asked = _ask(driver, user, task_id, data={"code": "graph ??"})
        request = await browser.wait_for("skill:request", lambda r: r["data"] == {"code": "graph ??"})
        error = {"message": "Parse error", "line": 1, "column": 7}
        assert await browser.call("skill:response", _respond(request, success=False, error=error)) == {
            "success": True
        }
        assert await asked == {
            "tool_error": "'render' (mermaid-diagram) failed: Parse error (line 1, column 7)"
        }
        await browser.close()
        await driver.disconnect()

    asyncio.run(scenario())


def test_wrong_user_and_unknown_ids_are_refused(live_server_url, probe, user, other_user, team, make_task):
    task_id = make_task(user, team).task.pk

    async def scenario() -> None:
        browser = await _browser(live_server_url, user, task_id)
        intruder = await connect(live_server_url, other_user)
        driver = await _driver(live_server_url)
        asked = _ask(driver, user, task_id)
        request = await browser.wait_for("skill:request")
        forged = _respond(request, success=True, result="forged")
        assert await intruder.call("skill:response", forged) == {
            "error": "This request belongs to another user"
        }
        assert await intruder.call("skill:response", {"request_id": "nope", "success": True}) == {
            "error": "No pending request found"
        }
        assert await browser.call("skill:response", {"request_id": "nope"}) == {
            "error": "No pending request found"
        }
        assert await browser.call("skill:response", {"success": True}) == {"error": "Missing request_id"}
        # The owner's answer still counts (the refused ones changed nothing).
        assert await browser.call("skill:response", _respond(request, success=True, result="real")) == {
            "success": True
        }
        assert await asked == {"result": "real"}
        for client in (browser, intruder):
            await client.close()
        await driver.disconnect()

    asyncio.run(scenario())


def test_timeout_is_a_tool_error_and_a_late_answer_is_ignored(
    live_server_url, probe, user, team, make_task, settings
):
    settings.CHAT_SKILL_REQUEST_TIMEOUT_SECONDS = 0.5
    task_id = make_task(user, team).task.pk

    async def scenario() -> None:
        browser = await _browser(live_server_url, user, task_id)
        driver = await _driver(live_server_url)
        asked = _ask(driver, user, task_id)
        request = await browser.wait_for("skill:request")
        outcome = await asked  # nobody answered
        assert outcome == {
            "tool_error": "'render' (mermaid-diagram) timed out: No answer from the browser within 0.5 s"
        }
        late = await browser.call("skill:response", _respond(request, success=True, result="late"))
        assert late == {"error": "No pending request found"}
        await browser.close()
        await driver.disconnect()

    asyncio.run(scenario())


def test_an_oversized_answer_is_refused_and_fails_the_request(
    live_server_url, probe, user, team, make_task, settings
):
    settings.CHAT_SKILL_RESPONSE_MAX_BYTES = 1000
    task_id = make_task(user, team).task.pk

    async def scenario() -> None:
        browser = await _browser(live_server_url, user, task_id)
        driver = await _driver(live_server_url)
        asked = _ask(driver, user, task_id)
        request = await browser.wait_for("skill:request")
        ack = await browser.call("skill:response", _respond(request, success=True, result="x" * 2000))
        assert ack == {"error": "Response too large"}
        outcome = await asked
        assert "too large" in outcome["tool_error"] and "x" * 100 not in outcome["tool_error"]
        await browser.close()
        await driver.disconnect()

    asyncio.run(scenario())


# --- two workers sharing Redis -------------------------------------------------------------------


@pytest.fixture
def probe_workers() -> Iterator[tuple[Worker, Worker]]:
    if not django_settings.REDIS_URL or connection.vendor == "sqlite":
        pytest.skip("several workers need Redis and a database server (scaled mode)")
    pair = (Worker(probe=True, WEGENT_CHAT_SKILL_REQUEST_TIMEOUT_SECONDS="3"), Worker())
    try:
        for worker in pair:
            worker.wait_ready()
        yield pair
    finally:
        for worker in pair:
            worker.stop()


def test_request_on_worker_a_is_answered_through_worker_b(probe_workers, user, other_user, team, make_task):
    worker_a, worker_b = probe_workers
    task_id = make_task(user, team).task.pk

    async def scenario() -> None:
        browser = await _browser(worker_b.url, user, task_id)  # the browser is on B
        intruder = await connect(worker_b.url, other_user)
        driver = await _driver(worker_a.url)  # the request waits on A
        asked = _ask(driver, user, task_id, data={"code": "graph LR; X-->Y"})
        request = await browser.wait_for("skill:request")
        assert request["data"] == {"code": "graph LR; X-->Y"}
        forged = _respond(request, success=True, result="forged")
        assert await intruder.call("skill:response", forged) == {
            "error": "This request belongs to another user"
        }
        ack = await browser.call(
            "skill:response", _respond(request, success=True, result={"svg": "<svg id='b'/>"})
        )
        assert ack == {"success": True}
        assert await asked == {"result": '{"svg":"<svg id=\'b\'/>"}'}
        again = await browser.call("skill:response", _respond(request, success=True, result="x"))
        assert again == {"error": "No pending request found"}

        # Unanswered: A times out (3 s in that worker); B then refuses the late answer.
        asked = _ask(driver, user, task_id, data={"code": "late"})
        request = await browser.wait_for("skill:request", lambda r: r["data"] == {"code": "late"})
        outcome = await asked
        assert outcome["tool_error"].endswith("timed out: No answer from the browser within 3 s")
        late = await browser.call("skill:response", _respond(request, success=True, result="late"))
        assert late == {"error": "No pending request found"}
        for client in (browser, intruder):
            await client.close()
        await driver.disconnect()

    asyncio.run(scenario())

"""Two server processes sharing Redis (the scaled mode, DESIGN.md §5): a client on worker A
sees a stream produced on worker B, joins it mid-stream with the exact text so far, and a
cancel sent to A stops the stream on B.

Needs Redis (events and cancels cross processes through it), so it runs on the PostgreSQL and MariaDB
legs; the embedded mode has one process by definition.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from chat.tests.sockets import Recorder, connect
from chat.tests.workers import ROOT, Worker, database_url
from tasks.models import Subtask
from wegent.tests.helpers import free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _needs_scaled_mode() -> None:
    if not settings.REDIS_URL or connection.vendor == "sqlite":
        pytest.skip("several workers need Redis and a database server (scaled mode)")


@pytest.fixture
def workers() -> Iterator[tuple[Worker, Worker]]:
    _needs_scaled_mode()
    pair = (Worker(), Worker())
    try:
        for worker in pair:
            worker.wait_ready()
        yield pair
    finally:
        for worker in pair:
            worker.stop()


def _rebuild(streaming: dict, watcher: Recorder, subtask_id: int) -> str:
    """The joined text plus every later chunk, checking each continues exactly where it should."""
    text = streaming["cached_content"]
    for chunk in watcher.named("chat:chunk"):
        if chunk["subtask_id"] != subtask_id or chunk["offset"] < streaming["offset"]:
            continue
        assert chunk["offset"] == len(text), "no gap and no overlap after the join"
        text += chunk["content"]
    return text


def test_streams_cross_workers_and_cancel_reaches_the_producer(workers, user, chat_team):
    worker_a, worker_b = workers
    team = chat_team(user, "fake-n400-d15")

    async def scenario() -> tuple[int, str]:
        sender = await connect(worker_b.url, user)  # the stream runs on B
        ack = await sender.call("chat:send", {"team_id": team.pk, "message": "a long answer please"})
        start = await sender.wait_for("chat:start")
        await sender.wait_for("chat:chunk", lambda c: c["offset"] > 30)

        watcher = await connect(worker_a.url, user)  # joins from A mid-stream
        joined_a = await watcher.call("task:join", {"task_id": ack["task_id"]})
        assert joined_a["streaming"]["subtask_id"] == start["subtask_id"]
        assert joined_a["streaming"]["offset"] == len(joined_a["streaming"]["cached_content"]) > 30

        late = await connect(worker_b.url, user)  # and another joins on B itself
        joined_b = await late.call("task:join", {"task_id": ack["task_id"]})
        await watcher.wait_for("chat:chunk", lambda c: c["offset"] > joined_a["streaming"]["offset"] + 50)

        # Cancel through A: the stream on B stops, everyone hears it.
        assert await watcher.call("chat:cancel", {"subtask_id": start["subtask_id"]}) == {"success": True}
        for client in (sender, watcher, late):
            await client.wait_for("chat:cancelled")
        done = await watcher.wait_for("chat:done")
        final = done["result"]["value"]
        full = " ".join(f"w{i}" for i in range(400))
        assert done["result"]["cancelled"] is True and 0 < len(final) < len(full)
        assert _rebuild(joined_a["streaming"], watcher, start["subtask_id"]) == final
        assert _rebuild(joined_b["streaming"], late, start["subtask_id"]) == final
        for client in (sender, watcher, late):
            await client.close()
        return start["subtask_id"], final

    subtask_id, final = asyncio.run(scenario())
    answer = Subtask.objects.get(pk=subtask_id)
    assert answer.status == "CANCELLED" and answer.result["value"] == final


def test_sigterm_gives_running_streams_their_grace_then_saves_them(user, chat_team):
    """A stopping worker lets streams run for the grace period, then cancels them with their
    partial text saved: nothing is left RUNNING."""
    _needs_scaled_mode()
    worker = Worker(WEGENT_CHAT_SHUTDOWN_GRACE_SECONDS="1")
    team = chat_team(user, "fake-n1000-d20")
    try:
        worker.wait_ready()

        async def scenario() -> int:
            client = await connect(worker.url, user)
            await client.call("chat:send", {"team_id": team.pk, "message": "this will be cut"})
            start = await client.wait_for("chat:start")
            await client.wait_for("chat:chunk", lambda c: c["offset"] > 20)
            worker.process.terminate()
            await asyncio.to_thread(worker.process.wait, 30)
            return start["subtask_id"]

        subtask_id = asyncio.run(scenario())
    finally:
        worker.stop()
    answer = Subtask.objects.get(pk=subtask_id)
    assert answer.status == "CANCELLED", worker.output()
    assert answer.result["cancelled"] is True and len(answer.result["value"]) > 20


def test_a_process_without_a_server_emits_to_sockets_of_the_workers(workers, user):
    """A management command (or a Celery worker) reaches the sockets through Redis."""
    worker_a, _ = workers

    async def scenario() -> dict:
        client = await connect(worker_a.url, user)
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "WEGENT_SECRET_KEY": settings.SECRET_KEY,
            "WEGENT_TESTING": "1",
        }
        payload = "{'task_id': 7, 'status': 'COMPLETED', 'progress': 100}"
        code = (
            "from wegent.realtime.emitter import emit_sync; "
            f"emit_sync('task:status', {payload}, room='user:{user.pk}')"
        )
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        status = await client.wait_for("task:status", lambda s: s["task_id"] == 7)
        await client.close()
        return status

    assert asyncio.run(scenario()) == {"task_id": 7, "status": "COMPLETED", "progress": 100}


class RoundRobinProxy:
    """A load balancer without sticky sessions on loopback: each HTTP request goes to the next
    worker in turn, whatever its session. The turns are counted per method: a polling client
    alternates GET and POST, so one shared count would send all its GETs to one worker and all
    its POSTs to the other. Records which worker answered each request."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.turns: dict[str, int] = {}
        self.served: list[tuple[str, str]] = []  # (method, target) per /socket.io/ request

    async def start(self) -> str:
        from aiohttp import ClientSession, ClientTimeout, web

        self.client = ClientSession(timeout=ClientTimeout(total=60))

        async def forward(request: web.Request) -> web.Response:
            turn = self.turns[request.method] = self.turns.get(request.method, -1) + 1
            target = self.targets[turn % len(self.targets)]
            self.served.append((request.method, target))
            body = await request.read()
            dropped = ("host", "content-length")
            headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
            async with self.client.request(
                request.method, target + str(request.rel_url), data=body, headers=headers
            ) as answer:
                payload = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
                return web.Response(status=answer.status, body=payload, headers=kept)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.client.close()


def test_polling_works_without_sticky_sessions(workers, user, chat_team):
    """Every polling request of one session lands on the other worker than the one before:
    connect, an event with its ack, the pushed stream and the disconnect all work."""
    worker_a, worker_b = workers
    team = chat_team(user, "fake-n60-d5")

    async def scenario() -> RoundRobinProxy:
        proxy = RoundRobinProxy([worker_a.url, worker_b.url])
        url = await proxy.start()
        try:
            client = await connect(url, user, transports=["polling"])
            assert client.client.transport() == "polling"
            ack = await client.call("chat:send", {"team_id": team.pk, "message": "over two workers"})
            assert set(ack) == {"task_id", "subtask_id", "message_id"}
            done = await client.wait_for("chat:done", timeout=30)
            chunks = client.named("chat:chunk")
            offset = 0
            for chunk in chunks:
                assert chunk["offset"] == offset, "every chunk once, in order"
                offset += len(chunk["content"])
            assert "".join(c["content"] for c in chunks) == done["result"]["value"]
            assert done["result"]["value"] == " ".join(f"w{i}" for i in range(60))
            joined = await client.call("task:join", {"task_id": ack["task_id"]})
            assert len(joined["subtasks"]) == 2
            await client.close()
        finally:
            await proxy.stop()
        return proxy

    proxy = asyncio.run(scenario())
    # Both workers answered GETs and POSTs of the one session.
    for method in ("GET", "POST"):
        assert {target for m, target in proxy.served if m == method} == {worker_a.url, worker_b.url}

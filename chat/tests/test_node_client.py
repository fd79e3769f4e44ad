"""``/chat`` against the web frontend's own client library: Node ``socket.io-client`` 4.8.1 with the
frontend's exact ``io()`` options (``chat/tests/node/client.mjs``), on the real ASGI app.

The library is installed from the npm registry into ``chat/tests/node/node_modules`` the first
time (and whenever the installed version is not the pinned one); later runs reuse it. Without
``node``/``npm`` the test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts.services.tokens import issue_access_token

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

NODE_DIR = Path(__file__).parent / "node"
CLIENT_VERSION = "4.8.1"
INSTALL_TIMEOUT = 300
RUN_TIMEOUT = 90


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "socket.io-client" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def node_client() -> list[str]:
    """The command that runs the client script, after making sure the pinned library is installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if path is None)
        reason = f"{missing} not found on PATH: the Node socket.io-client test needs Node.js and npm"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)")
        pytest.skip(reason)
    # A lock keeps two pytest processes from installing into the same directory at once.
    with open(NODE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != CLIENT_VERSION:
            ci = (NODE_DIR / "package-lock.json").exists()
            command = [npm, "ci" if ci else "install", "--no-audit", "--no-fund"]
            done = subprocess.run(
                command, cwd=NODE_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
            assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
        version = _installed_version()
        assert version == CLIENT_VERSION, f"socket.io-client {version} installed, expected {CLIENT_VERSION}"
    return [node, str(NODE_DIR / "client.mjs")]


def run_client(command: list[str], scenario: dict) -> dict:
    done = subprocess.run(
        command,
        input=json.dumps(scenario),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=NODE_DIR,
        check=False,
    )
    assert done.returncode == 0, f"client.mjs exited {done.returncode}:\n{done.stderr}"
    try:
        return json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"client.mjs printed no JSON:\nstdout: {done.stdout}\nstderr: {done.stderr}")


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_frontend_client_streams_a_chat_and_sees_auth_failures(node_client, live_server_url, user, chat_team):
    team = chat_team(user, "fake-n20-d5")
    scenario = {
        "base_url": live_server_url,
        "token": issue_access_token(user),
        "team_id": team.pk,
        "message": "Hello from the Node client",
        "bad_token": "not-a-valid-token",
        "timeout_ms": 30000,
    }
    report = run_client(node_client, scenario)
    context = json.dumps(report, indent=1)[:4000]

    # Connected straight over websocket (the frontend lists it first) and stayed there.
    assert report["transport"] == "websocket", context
    ack = report["send_ack"]
    assert set(ack) == {"task_id", "subtask_id", "message_id"}, context
    assert ack["message_id"] == 1 and isinstance(ack["subtask_id"], int), context
    task_id = ack["task_id"]

    events = report["events"]
    names = [e["event"] for e in events]
    assert "connect_error" not in names, context
    for name in ("task:created", "chat:start", "chat:chunk", "chat:done"):
        assert name in names, (name, context)
    first_chunk = names.index("chat:chunk")
    last_chunk = len(names) - 1 - names[::-1].index("chat:chunk")
    assert names.index("task:created") < names.index("chat:start") < first_chunk, context
    assert last_chunk < names.index("chat:done"), context
    # As the reference: the client hears task:created before its chat:send ack.
    timeline = report["timeline"]
    assert timeline.index("task:created") < timeline.index("ack:chat:send"), context

    created = next(e["data"] for e in events if e["event"] == "task:created")
    assert created["task_id"] == task_id and created["team_id"] == team.pk, context
    start = next(e["data"] for e in events if e["event"] == "chat:start")
    assert start["task_id"] == task_id and start["message_id"] == 2, context
    chunks = [e["data"] for e in events if e["event"] == "chat:chunk"]
    assert all(c.get("task_id") == task_id for c in chunks), context
    assert all(c["subtask_id"] == start["subtask_id"] for c in chunks), context
    text = "".join(c["content"] for c in chunks)
    assert text == words(20), context
    done = next(e["data"] for e in events if e["event"] == "chat:done")
    assert done["task_id"] == task_id and done["result"]["value"] == text, context
    complete = [e["data"] for e in events if e["event"] == "chat:bot_complete"]
    assert complete and complete[0]["content"] == text, context
    statuses = [e["data"]["status"] for e in events if e["event"] == "task:status"]
    assert statuses and statuses[-1] == "COMPLETED", context

    joined = report["join_ack"]
    assert "error" not in joined, context
    assert len(joined["subtasks"]) == 2, context
    assert [s["role"] for s in joined["subtasks"]] == ["USER", "ASSISTANT"], context
    assert joined["streaming"] is None or isinstance(joined["streaming"], dict), context

    # The frontend treats connect errors mentioning expired/unauthorized/jwt/authentication as
    # an auth failure (drops the token, goes to login): the refusal must say so.
    bad = report["bad_token"]
    assert bad["connected"] is False, context
    assert "Invalid or expired token" in bad["connect_error"]["message"], context


def test_frontend_client_chats_over_long_polling_alone(node_client, live_server_url, user, chat_team):
    """A browser behind a proxy that blocks WebSocket: the same client, polling only."""
    team = chat_team(user, "fake-n20-d5")
    scenario = {
        "base_url": live_server_url,
        "token": issue_access_token(user),
        "team_id": team.pk,
        "message": "Hello over polling",
        "transports": ["polling"],
        "timeout_ms": 30000,
    }
    report = run_client(node_client, scenario)
    context = json.dumps(report, indent=1)[:4000]
    assert report["transport"] == "polling", context
    ack = report["send_ack"]
    assert set(ack) == {"task_id", "subtask_id", "message_id"}, context
    events = report["events"]
    chunks = [e["data"] for e in events if e["event"] == "chat:chunk"]
    done = next(e["data"] for e in events if e["event"] == "chat:done")
    assert "".join(c["content"] for c in chunks) == done["result"]["value"] == words(20), context
    timeline = report["timeline"]
    assert timeline.index("task:created") < timeline.index("ack:chat:send"), context
    assert len(report["join_ack"]["subtasks"]) == 2, context
    assert "Invalid or expired token" in report["bad_token"]["connect_error"]["message"], context

"""``/chat`` over Engine.IO HTTP long-polling, and the upgrade from polling to websocket, on the
real ASGI app on loopback: the real python-socketio client (``transports=['polling']`` and its
default ``['polling', 'websocket']``), and raw Engine.IO requests for what a library hides (a
stream still running while the transport changes under it).

On the SQLite leg the polling sessions live in the process; on the PostgreSQL+Redis leg their
queues are in Redis (``wegent/realtime/polling.py``), so both stores are exercised.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import socketio
import websockets

from accounts.services.tokens import issue_access_token
from chat.tests.sockets import connect

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_polling_client_sends_with_ack_and_receives_the_stream(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n20-d5")

    async def scenario() -> None:
        client = await connect(live_server_url, user, transports=["polling"])
        assert client.client.transport() == "polling"
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "Say hi"})
        assert set(ack) == {"task_id", "subtask_id", "message_id"} and ack["message_id"] == 1
        done = await client.wait_for("chat:done")
        created = await client.wait_for("task:created")
        assert created["task_id"] == ack["task_id"]
        chunks = client.named("chat:chunk")
        offsets = [c["offset"] for c in chunks]
        assert offsets == sorted(offsets) and "".join(c["content"] for c in chunks) == words(20)
        assert done["result"]["value"] == words(20)
        joined = await client.call("task:join", {"task_id": ack["task_id"]})
        assert [s["role"] for s in joined["subtasks"]] == ["USER", "ASSISTANT"]
        await client.close()

    asyncio.run(scenario())


def test_polling_client_with_a_bad_token_is_refused(live_server_url, user):
    async def scenario() -> list[Any]:
        client = socketio.AsyncClient(reconnection=False)
        refusals: list[Any] = []
        client.on("connect_error", refusals.append, namespace="/chat")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                live_server_url, namespaces=["/chat"], auth={"token": "bad"}, transports=["polling"]
            )
        return refusals

    assert asyncio.run(scenario()) == [{"message": "Invalid or expired token"}]


def test_default_client_transports_upgrade_from_polling_to_websocket(live_server_url, user, chat_team):
    team = chat_team(user, "fake-n20-d5")

    async def scenario() -> None:
        client = await connect(live_server_url, user, transports=["polling", "websocket"])
        assert client.client.transport() == "websocket"  # the probe and upgrade went through
        ack = await client.call("chat:send", {"team_id": team.pk, "message": "Say hi"})
        done = await client.wait_for("chat:done")
        assert done["task_id"] == ack["task_id"] and done["result"]["value"] == words(20)
        await client.close()

    asyncio.run(scenario())


class RawPolling:
    """Engine.IO v4 polling by hand: GETs and POSTs on ``/socket.io/``."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = httpx.AsyncClient(timeout=40)
        self.sid = ""

    def url(self) -> str:
        query = "EIO=4&transport=polling" + (f"&sid={self.sid}" if self.sid else "")
        return f"{self.base}/socket.io/?{query}"

    async def handshake(self) -> dict[str, Any]:
        response = await self.http.get(self.url())
        assert response.status_code == 200, response.text
        assert response.text[0] == "0"
        opened = json.loads(response.text[1:])
        self.sid = opened["sid"]
        return opened

    async def get(self) -> list[str]:
        response = await self.http.get(self.url())
        assert response.status_code == 200, response.text
        return response.text.split("\x1e")

    async def post(self, *packets: str) -> httpx.Response:
        return await self.http.post(self.url(), content="\x1e".join(packets).encode())


def _events(packets: list[str]) -> list[tuple[str, Any]]:
    """The /chat events among Engine.IO packets (``42/chat,[name, data]``)."""
    found = []
    for packet in packets:
        if packet.startswith("42/chat,"):
            body = packet[len("42/chat,") :]
            name, data = json.loads(body[body.index("[") :])
            found.append((name, data))
    return found


def test_a_stream_running_across_the_upgrade_loses_no_chunk(live_server_url, user, chat_team):
    """Polling, a long stream starts, the websocket probe and upgrade happen mid-stream: every
    chunk arrives exactly once, in order, on one transport or the other."""
    team = chat_team(user, "fake-n300-d10")

    async def scenario() -> None:
        raw = RawPolling(live_server_url)
        opened = await raw.handshake()
        assert opened["upgrades"] == ["websocket"]
        token = issue_access_token(user)
        assert (await raw.post("40/chat," + json.dumps({"token": token}))).text == "ok"
        assert (await raw.get())[0].startswith("40/chat,")
        send = ["chat:send", {"team_id": team.pk, "message": "long"}]
        assert (await raw.post("42/chat,1" + json.dumps(send))).status_code == 200
        events: list[tuple[str, Any]] = []
        while sum(name == "chat:chunk" for name, _ in events) < 20:
            events += _events(await raw.get())

        query = f"EIO=4&transport=websocket&sid={raw.sid}"
        ws_url = live_server_url.replace("http", "ws") + "/socket.io/?" + query
        async with websockets.connect(ws_url) as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            # The pending (or next) poll is ended with a NOOP; the client stops polling there.
            while True:
                packets = await raw.get()
                events += _events(packets)
                if "6" in packets:
                    break
            await ws.send("5")
            while not any(name == "chat:done" for name, _ in events):
                frame = await asyncio.wait_for(ws.recv(), 20)
                if frame == "2":
                    await ws.send("3")
                events += _events([frame])
            # The session now answers on the websocket only.
            await ws.send('42/chat,2["task:join",{"task_id":' + str(events[0][1]["task_id"]) + "}]")
            while True:
                frame = await asyncio.wait_for(ws.recv(), 20)
                if frame.startswith("43/chat,2"):
                    break
        await raw.http.aclose()

        chunks = [data for name, data in events if name == "chat:chunk"]
        offset = 0
        for chunk in chunks:
            assert chunk["offset"] == offset, "no chunk lost or repeated across the upgrade"
            offset += len(chunk["content"])
        done = next(data for name, data in events if name == "chat:done")
        assert "".join(c["content"] for c in chunks) == done["result"]["value"] == words(300)

    asyncio.run(scenario())

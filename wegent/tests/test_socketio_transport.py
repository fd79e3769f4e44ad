"""The Socket.IO transport over a real server on loopback, driven by the real python-socketio
client and by raw websocket frames (for what a well-behaved client never sends).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
import websockets

from wegent.realtime import emitter
from wegent.realtime.namespaces import ConnectionRefused, Namespace, Socket, register, unregister

pytestmark = pytest.mark.live


class EchoNamespace(Namespace):
    path = "/test-echo"
    events = {"echo": "on_echo", "join": "on_join", "boom": "on_boom", "bye": "on_bye", "tell": "on_tell"}

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        if not isinstance(auth, dict) or auth.get("token") != "good":
            raise ConnectionRefused("Invalid or expired token")
        socket.session["name"] = auth.get("name", "anon")
        await socket.enter_room("everyone")

    async def on_echo(self, socket: Socket, data: Any) -> Any:
        return {"echo": data, "name": socket.session["name"]}

    async def on_join(self, socket: Socket, data: Any) -> Any:
        await socket.enter_room(str(data["room"]))
        return {"success": True}

    async def on_boom(self, socket: Socket, data: Any) -> Any:
        raise RuntimeError("handler bug")

    async def on_bye(self, socket: Socket, data: Any) -> Any:
        await socket.disconnect()
        return {"success": True}

    async def on_tell(self, socket: Socket, data: Any) -> Any:
        await emitter.emit(
            "told", data, room=str(data["room"]), namespace=self.path, skip=socket.connection_id
        )
        return {"success": True}


@pytest.fixture
def echo_server(live_server_url) -> Iterator[str]:  # type: ignore[no-untyped-def]
    register(EchoNamespace())
    try:
        yield live_server_url
    finally:
        unregister(EchoNamespace.path)


async def _client(url: str, name: str = "a", token: str = "good") -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        url,
        namespaces=["/test-echo"],
        auth={"token": token, "name": name},
        transports=["websocket"],
        wait_timeout=5,
    )
    return client


def test_connect_event_and_ack(echo_server):
    async def scenario() -> None:
        client = await _client(echo_server, "alice")
        reply = await client.call("echo", {"x": [1, "é"]}, namespace="/test-echo", timeout=5)
        assert reply == {"echo": {"x": [1, "é"]}, "name": "alice"}
        unknown = await client.call("nope", {}, namespace="/test-echo", timeout=5)
        assert unknown == {"error": "Unknown event: nope"}
        broken = await client.call("boom", {}, namespace="/test-echo", timeout=5)
        assert broken == {"error": "Internal server error"}
        # The connection is still fine after both.
        assert (await client.call("echo", 1, namespace="/test-echo", timeout=5))["echo"] == 1
        await client.disconnect()

    asyncio.run(scenario())


def test_refused_connect_carries_the_message(echo_server):
    async def scenario() -> None:
        client = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        client.on("connect_error", lambda data: errors.append(data), namespace="/test-echo")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                echo_server,
                namespaces=["/test-echo"],
                auth={"token": "bad"},
                transports=["websocket"],
                wait_timeout=5,
            )
        assert errors == [{"message": "Invalid or expired token"}]

    asyncio.run(scenario())


def test_room_emits_skip_the_sender_and_reach_the_room(echo_server):
    async def scenario() -> None:
        a, b, c = (
            await _client(echo_server, "a"),
            await _client(echo_server, "b"),
            await _client(echo_server, "c"),
        )
        got: dict[str, list[Any]] = {"a": [], "b": [], "c": []}
        for name, client in (("a", a), ("b", b), ("c", c)):
            client.on("told", lambda data, name=name: got[name].append(data), namespace="/test-echo")
        await b.call("join", {"room": "task:1"}, namespace="/test-echo", timeout=5)
        await a.call("join", {"room": "task:1"}, namespace="/test-echo", timeout=5)
        await a.call("tell", {"room": "task:1", "n": 1}, namespace="/test-echo", timeout=5)
        await a.call("tell", {"room": "everyone", "n": 2}, namespace="/test-echo", timeout=5)
        await asyncio.sleep(0.3)
        assert got["a"] == []
        assert got["b"] == [{"room": "task:1", "n": 1}, {"room": "everyone", "n": 2}]
        assert got["c"] == [{"room": "everyone", "n": 2}]
        for client in (a, b, c):
            await client.disconnect()

    asyncio.run(scenario())


def test_server_side_disconnect(echo_server):
    async def scenario() -> None:
        client = await _client(echo_server)
        gone = asyncio.Event()
        client.on("disconnect", lambda *args: gone.set(), namespace="/test-echo")
        await client.emit("bye", {}, namespace="/test-echo")
        await asyncio.wait_for(gone.wait(), timeout=5)
        await client.disconnect()

    asyncio.run(scenario())


async def _raw(url: str) -> Any:
    ws = await websockets.connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    opening = await ws.recv()
    assert opening.startswith("0")
    return ws, json.loads(opening[1:])


def test_open_packet_and_bad_frames(echo_server):
    async def scenario() -> None:
        ws, opening = await _raw(echo_server)
        assert opening["upgrades"] == [] and opening["pingInterval"] == 25000
        assert opening["pingTimeout"] == 20000 and opening["maxPayload"] == 1_000_000
        # Garbage of every kind is dropped; the connection keeps working.
        for frame in ("", "9", "4", "4{bad", "42/test-echo,[", "4xyz", "45-/test-echo,[]"):
            await ws.send(frame)
        await ws.send('42/test-echo,7["echo",1]')  # an event before connecting the namespace
        assert json.loads((await ws.recv())[len("43/test-echo,7") :]) == [
            {"error": "Not connected to this namespace"}
        ]
        await ws.send("40/nowhere,{}")
        assert await ws.recv() == '44/nowhere,{"message":"Invalid namespace"}'
        await ws.send('40/test-echo,{"token":"good"}')
        connected = await ws.recv()
        assert connected.startswith('40/test-echo,{"sid":')
        await ws.send('42/test-echo,3["echo",{"ok":true}]')
        assert await ws.recv() == '43/test-echo,3[{"echo":{"ok":true},"name":"anon"}]'
        await ws.send('42/test-echo,4"not a list"')
        assert await ws.recv() == '43/test-echo,4[{"error":"Invalid event packet"}]'
        await ws.close()

    asyncio.run(scenario())


def test_oversized_frame_closes_only_that_connection(echo_server):
    async def scenario() -> None:
        other = await _client(echo_server, "other")
        ws, _ = await _raw(echo_server)
        await ws.send('40/test-echo,{"token":"good"}')
        await ws.recv()
        await ws.send('42/test-echo,["echo","' + "x" * 1_000_001 + '"]')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
        assert closed.value.rcvd.code == 1009
        assert (await other.call("echo", "still here", namespace="/test-echo", timeout=5))[
            "echo"
        ] == "still here"
        await other.disconnect()

    asyncio.run(scenario())


def test_wrong_protocol_or_transport_is_refused(echo_server):
    async def scenario() -> None:
        base = echo_server.replace("http", "ws")
        for query in ("EIO=3&transport=websocket", "EIO=4&transport=polling", ""):
            with pytest.raises(websockets.InvalidStatus):
                await websockets.connect(f"{base}/socket.io/?{query}")

    asyncio.run(scenario())


def test_ping_timeout_closes_a_silent_client(echo_server, settings):
    settings.SOCKETIO_PING_INTERVAL = 1
    settings.SOCKETIO_PING_TIMEOUT = 1

    async def scenario() -> None:
        ws, opening = await _raw(echo_server)
        assert opening["pingInterval"] == 1000
        assert await asyncio.wait_for(ws.recv(), timeout=5) == "2"  # ping, left unanswered
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), timeout=5)
        # A client that answers stays connected across pings.
        ws2, _ = await _raw(echo_server)
        for _ in range(2):
            assert await asyncio.wait_for(ws2.recv(), timeout=5) == "2"
            await ws2.send("3")
        await ws2.send('40/test-echo,{"token":"good"}')
        assert (await asyncio.wait_for(ws2.recv(), timeout=5)).startswith("40/test-echo")
        await ws2.close()

    asyncio.run(scenario())


def test_origin_policy(echo_server, settings):
    settings.SOCKETIO_ALLOWED_ORIGINS = ["http://frontend.example:3000"]

    async def scenario() -> None:
        url = echo_server.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        allowed = await websockets.connect(url, origin="http://frontend.example:3000")
        assert (await allowed.recv()).startswith("0")
        await allowed.close()
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(url, origin="http://evil.example")
        # Clients that are not browsers send no Origin and are let through (tokens guard them).
        plain = await websockets.connect(url)
        assert (await plain.recv()).startswith("0")
        await plain.close()

    asyncio.run(scenario())

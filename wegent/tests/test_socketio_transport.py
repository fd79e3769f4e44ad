"""The Socket.IO transport over a real server on loopback, driven by the real python-socketio
client and by raw websocket frames (for what a well-behaved client never sends).

Every scenario runs on uvicorn's default websocket protocol (the test suite's live server) and
on the one ``manage.py serve`` uses (``LeanWebSocketProtocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket as sockets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
import uvicorn
import websockets
from websockets.frames import OP_TEXT, Frame

from wegent.realtime import consumer, emitter
from wegent.realtime.namespaces import ConnectionRefused, Namespace, Socket, register, unregister
from wegent.server import (
    LeanWebSocketProtocol,
    _Gate,
    _Inbox,
    text_frame,
    websocket_options,
)

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


class ServeServer:
    """The ASGI application on a loopback port with ``manage.py serve``'s websocket options."""

    def __init__(self) -> None:
        from wegent.asgi import application

        with sockets.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            **websocket_options(),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from uvicorn._compat import asyncio_run

        asyncio_run(self.server.serve(), loop_factory=self.server.config.get_loop_factory())

    def websocket_protocols(self) -> list[Any]:
        return [c for c in list(self.server.server_state.connections) if isinstance(c, LeanWebSocketProtocol)]

    @contextlib.contextmanager
    def running(self) -> Iterator[ServeServer]:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        try:
            yield self
        finally:
            self.server.should_exit = True
            self.thread.join(timeout=10)


@pytest.fixture
def serve_server() -> Iterator[ServeServer]:
    register(EchoNamespace())
    try:
        with ServeServer().running() as server:
            yield server
    finally:
        unregister(EchoNamespace.path)


@pytest.fixture(params=["uvicorn-default", "serve"])
def echo_server(request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "serve":
        yield request.getfixturevalue("serve_server").url
        return
    url = request.getfixturevalue("live_server_url")
    register(EchoNamespace())
    try:
        yield url
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


def test_large_and_boundary_sized_frames_round_trip(echo_server):
    """Payload lengths on both sides of the 7-, 16- and 64-bit length encodings of a frame."""

    async def scenario() -> None:
        client = await _client(echo_server)
        for size in (0, 90, 125, 126, 200, 65_535, 65_536, 300_000):
            text = "é" * (size // 2) + "x" * (size % 2)
            reply = await client.call("echo", text, namespace="/test-echo", timeout=10)
            assert reply["echo"] == text
        await client.disconnect()

    asyncio.run(scenario())


def test_silent_client_among_answering_ones_is_the_only_one_closed(echo_server, settings):
    settings.SOCKETIO_PING_INTERVAL = 1
    settings.SOCKETIO_PING_TIMEOUT = 1

    async def answer(ws: Any, pings: list[int]) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in ws:
                if frame == "2":
                    pings.append(1)
                    await ws.send("3")

    async def scenario() -> None:
        silent, _ = await _raw(echo_server)
        answering = [(await _raw(echo_server))[0] for _ in range(3)]
        pings: list[list[int]] = [[] for _ in answering]
        readers = [asyncio.ensure_future(answer(ws, p)) for ws, p in zip(answering, pings, strict=True)]
        assert await asyncio.wait_for(silent.recv(), timeout=5) == "2"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(silent.recv(), timeout=5)
        await asyncio.sleep(1.5)  # past another interval and timeout of the answering ones
        assert all(len(p) >= 2 for p in pings), pings
        assert not any(reader.done() for reader in readers)  # all still open
        for ws in answering:
            await ws.close()
        await asyncio.gather(*readers)

    asyncio.run(scenario())


# --- the heartbeat's schedule, without a server -------------------------------------------------


class _FakeConnection:
    def __init__(self, opened: float) -> None:
        self.pong_at, self.ping_sent = opened, 0.0
        self.frames: list[str] = []
        self.closed = False

    async def send_frame(self, frame: str) -> None:
        self.frames.append(frame)

    async def close(self) -> None:
        self.closed = True

    def pong(self, now: float) -> None:  # what the consumer does with a solicited pong
        self.ping_sent, self.pong_at = 0.0, now


def test_heartbeat_pings_after_the_interval_and_closes_after_the_timeout():
    async def scenario() -> None:
        beat = consumer._Heartbeat()
        answering, silent = _FakeConnection(100.0), _FakeConnection(100.0)
        beat.members.update({answering, silent})  # type: ignore[arg-type]

        async def at(now: float) -> None:
            beat.beat(now, interval=25, timeout=20)
            await asyncio.sleep(0)  # the ping and close tasks run

        await at(124.9)
        assert answering.frames == silent.frames == []
        await at(125.0)
        assert answering.frames == silent.frames == ["2"]
        answering.pong(126.0)
        await at(144.9)
        assert not silent.closed and silent.frames == ["2"]  # one ping outstanding, no other
        await at(145.0)
        assert silent.closed and silent not in beat.members
        await at(150.9)
        assert answering.frames == ["2"]  # the interval counts from the pong
        await at(151.0)
        assert answering.frames == ["2", "2"] and not answering.closed

    asyncio.run(scenario())


# --- serve's websocket protocol -----------------------------------------------------------------


def test_text_frames_are_what_websockets_writes():
    for size in (0, 1, 125, 126, 127, 65_535, 65_536, 70_000):
        data = ("a" * size).encode()
        assert text_frame(data) == Frame(OP_TEXT, data).serialize(mask=False)


def test_inbox_hands_items_in_order_to_waiting_readers():
    async def scenario() -> None:
        inbox = _Inbox()
        assert inbox.empty()
        reader = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(1)
        inbox.put_nowait(2)
        assert await reader == 1
        assert not inbox.empty() and await inbox.get() == 2 and inbox.empty()
        # A reader cancelled just after being woken passes the item on to the next one.
        first, second = asyncio.ensure_future(inbox.get()), asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(3)
        first.cancel()
        assert await second == 3
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(scenario())


def test_gate_blocks_writers_until_set():
    async def scenario() -> None:
        gate = _Gate()
        gate.set()
        assert await gate.wait() is True
        gate.clear()
        writer = asyncio.ensure_future(gate.wait())
        await asyncio.sleep(0.01)
        assert not writer.done()
        gate.set()
        assert await writer is True

    asyncio.run(scenario())


def test_serve_protocol_keeps_no_handshake_or_instance_dict(serve_server):
    async def scenario() -> None:
        client = await _client(serve_server.url)
        assert (await client.call("echo", 1, namespace="/test-echo", timeout=5))["echo"] == 1
        [protocol] = serve_server.websocket_protocols()
        assert protocol.request is None and protocol.response is None
        assert not protocol.__dict__  # every attribute uvicorn sets has a slot
        assert isinstance(protocol.queue, _Inbox) and isinstance(protocol.writable, _Gate)
        await client.disconnect()

    asyncio.run(scenario())

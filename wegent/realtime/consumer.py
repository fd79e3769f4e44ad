"""The Socket.IO transport: Engine.IO v4 / Socket.IO v5 over the WebSocket transport, as an
ASGI consumer routed by Channels at ``/socket.io/``.

Packets are encoded and decoded by the packet classes of python-engineio and python-socketio;
this consumer owns the session around them: the open packet, server pings and pong timeouts
(one heartbeat task per event loop for all connections), namespace connects with the ``auth``
object, events and acknowledgements, server-side disconnects, and room emits arriving through
the hub from any process.

The Socket.IO layer (``EngineSession``) is shared by both Engine.IO transports: the websocket
consumer here, and HTTP long-polling (``polling.py``), whose sessions may move to a websocket by
the Engine.IO upgrade.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import engineio.packet as eio
import orjson
import socketio.packet as sio
from django.conf import settings

from wegent.realtime import emitter
from wegent.realtime.hub import hub
from wegent.realtime.namespaces import AfterEmits, ConnectionRefused, Socket, handler_for
from wegent.realtime.packets import EnginePacket, SocketPacket, encode_event

logger = logging.getLogger(__name__)

# WebSocket close codes.
POLICY_VIOLATION, MESSAGE_TOO_BIG = 1008, 1009
PING_FRAME = EnginePacket(eio.PING).encode()

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def scope_address(scope: dict[str, Any]) -> str:
    """The client's address as the server saw it (a trusted proxy's forwarded one: uvicorn's
    ``FORWARDED_ALLOW_IPS``)."""
    client = scope.get("client")
    return str(client[0])[:64] if client else ""


def origin_allowed(scope: dict[str, Any]) -> bool:
    allowed = settings.SOCKETIO_ALLOWED_ORIGINS
    if "*" in allowed:
        return True
    origin = dict(scope.get("headers") or []).get(b"origin")
    # Non-browser clients (the local executor, scripts) send no Origin header.
    return origin is None or origin.decode("latin-1") in allowed


class _Heartbeat:
    """Engine.IO server pings for every connection of an event loop, from one task.

    A task and an ``asyncio.Event`` per connection cost 2.4 KiB of every idle connection
    (measured); here a connection holds two timestamps. Every tick the task pings the
    connections whose interval has passed since their last pong (or their open) and closes
    those whose ping went unanswered for the timeout, as the per-connection loop did.
    """

    def __init__(self) -> None:
        self.members: set[EngineSession] = set()
        self.task: asyncio.Task[None] | None = None
        # Pings and closes run as their own tasks: one client that does not read must not
        # hold up the others' pings.
        self.sends: set[asyncio.Task[None]] = set()

    def add(self, consumer: EngineSession) -> None:
        self.members.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, consumer: EngineSession) -> None:
        self.members.discard(consumer)

    async def _run(self) -> None:
        while self.members:
            interval = settings.SOCKETIO_PING_INTERVAL
            timeout = settings.SOCKETIO_PING_TIMEOUT
            # Pings go out and silent clients are closed at most a tick late.
            await asyncio.sleep(min(1.0, interval / 4, timeout / 4))
            self.beat(time.monotonic(), interval, timeout)

    def beat(self, now: float, interval: float, timeout: float) -> None:
        for consumer in list(self.members):
            if consumer.ping_sent:
                if now - consumer.ping_sent >= timeout:
                    self.members.discard(consumer)
                    self._start(consumer.close())
            elif now - consumer.pong_at >= interval:
                consumer.ping_sent = now
                self._start(consumer.send_frame(PING_FRAME))

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(_quietly(coroutine))
        self.sends.add(task)
        task.add_done_callback(self.sends.discard)


async def _quietly(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        await coroutine
    except (OSError, RuntimeError):  # the client is gone: the disconnect handler cleans up
        pass


# One per event loop: the live test servers each run their own loop.
_heartbeats: dict[asyncio.AbstractEventLoop, _Heartbeat] = {}


def _heartbeat() -> _Heartbeat:
    loop = asyncio.get_running_loop()
    beat = _heartbeats.get(loop)
    if beat is None:
        for stale in [other for other in _heartbeats if other.is_closed()]:
            del _heartbeats[stale]
        beat = _heartbeats[loop] = _Heartbeat()
    return beat


class EngineSession:
    """One Engine.IO session (one browser tab or client process) and the Socket.IO layer above
    it: namespaces, events, acknowledgements, rooms. A transport subclass supplies
    ``send_frame`` and ``close`` and feeds the client's packets to ``handle_packet``."""

    # Set when the session opens; a refused connection never has them.
    sockets: dict[str, Socket]
    member_id: str = ""
    tasks: set[asyncio.Task[Any]] | None = None  # running event handlers, made on the first
    pong_at: float = 0.0  # when the last pong (or the open) arrived
    ping_sent: float = 0.0  # when the unanswered ping went out; 0 when none is outstanding
    client_address: str = ""  # the client's IP (the audit trail records it for socket writes)

    async def send_frame(self, frame: str) -> None:
        raise NotImplementedError

    async def close(self, code: int | None = None) -> None:
        raise NotImplementedError

    def on_pong(self) -> None:
        """A pong arrived (a transport may extend the session's lease here)."""

    @staticmethod
    def open_frame(sid: str, upgrades: list[str]) -> str:
        return EnginePacket(
            eio.OPEN,
            data={
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": settings.SOCKETIO_PING_INTERVAL * 1000,
                "pingTimeout": settings.SOCKETIO_PING_TIMEOUT * 1000,
                "maxPayload": settings.SOCKETIO_MAX_PAYLOAD,
            },
        ).encode()

    def start(self) -> None:
        """The session is open: it joins the hub and the heartbeat."""
        self.sockets = {}
        emitter.remember_loop()
        hub.register(self)
        self.pong_at = time.monotonic()
        _heartbeat().add(self)

    # --- the connection -----------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def disconnect(self) -> None:
        # Event handlers still running may be writing rows: they finish.
        if not self.member_id:
            return
        _heartbeat().discard(self)
        for socket in list(self.sockets.values()):
            await self._drop(socket)
        hub.unregister(self)

    async def handle_packet(self, packet: eio.Packet) -> None:
        """One Engine.IO packet from the client, whatever the transport."""
        if packet.packet_type == eio.PONG:
            if self.ping_sent:  # an unsolicited pong does not postpone the next ping
                self.ping_sent = 0.0
                self.pong_at = time.monotonic()
                self.on_pong()
        elif packet.packet_type == eio.PING:
            await self.send_frame(EnginePacket(eio.PONG, data=packet.data).encode())
        elif packet.packet_type == eio.CLOSE:
            await self.close()
        elif packet.packet_type == eio.MESSAGE and isinstance(packet.data, str):
            await self._on_socketio(packet.data)

    async def _send_packet(self, packet: SocketPacket) -> None:
        await self.send_frame(EnginePacket(eio.MESSAGE, data=packet.encode()).encode())

    # --- Socket.IO packets ------------------------------------------------------------------------

    async def _on_socketio(self, text: str) -> None:
        try:
            packet = SocketPacket(encoded_packet=text)
        except (ValueError, TypeError, IndexError, orjson.JSONDecodeError):
            return
        namespace = packet.namespace or "/"
        if packet.packet_type == sio.CONNECT:
            await self._connect_namespace(namespace, packet.data)
        elif packet.packet_type == sio.DISCONNECT:
            socket = self.sockets.get(namespace)
            if socket is not None:
                await self._drop(socket)
        elif packet.packet_type == sio.EVENT:
            self._spawn(self._on_event(namespace, packet.data, packet.id))
        elif packet.packet_type in (sio.BINARY_EVENT, sio.BINARY_ACK) and packet.id is not None:
            await self._ack(namespace, packet.id, {"error": "Binary payloads are not supported"})

    async def _connect_namespace(self, namespace: str, auth: Any) -> None:
        handler = handler_for(namespace)
        if handler is None:
            await self._connect_error(namespace, "Invalid namespace")
            return
        if namespace in self.sockets:
            await self._connect_error(namespace, "Already connected to this namespace")
            return
        socket = Socket(self, namespace)
        try:
            # In a task of its own: a database hop (asgiref's sync_to_async) leaves context
            # variables in the task that makes it, here the connection's for its whole life.
            await asyncio.ensure_future(handler.on_connect(socket, auth))
        except ConnectionRefused as exc:
            await self._connect_error(namespace, exc.message)
            return
        except Exception:
            logger.exception("namespace connect failed: %s", namespace)
            await self._connect_error(namespace, "Internal server error")
            return
        self.sockets[namespace] = socket
        for room in list(socket.rooms):  # rooms entered during on_connect
            hub.join(self, namespace, room)
        await self._send_packet(SocketPacket(sio.CONNECT, data={"sid": socket.sid}, namespace=namespace))

    async def _connect_error(self, namespace: str, message: str) -> None:
        await self._send_packet(
            SocketPacket(sio.CONNECT_ERROR, data={"message": message}, namespace=namespace)
        )

    async def _on_event(self, namespace: str, data: Any, ack_id: int | None) -> None:
        socket = self.sockets.get(namespace)
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            reply: Any = {"error": "Invalid event packet"}
        elif socket is None:
            reply = {"error": "Not connected to this namespace"}
        else:
            reply = await self._run_handler(socket, data[0], data[1] if len(data) > 1 else None)
        if ack_id is None:
            return
        if isinstance(reply, AfterEmits):
            # The room events were written to local sockets before emit returned.
            reply = reply.value
        await self._ack(namespace, ack_id, reply)

    async def _run_handler(self, socket: Socket, event: str, payload: Any) -> Any:
        handler = handler_for(socket.namespace)
        method = handler.handler(event) if handler is not None else None
        if method is None:
            return {"error": f"Unknown event: {event[:100]}"}
        try:
            return await method(socket, payload)
        except Exception:
            logger.exception("event handler failed: %s %s", socket.namespace, event[:100])
            return {"error": "Internal server error"}

    async def _ack(self, namespace: str, ack_id: int, reply: Any) -> None:
        await self._send_packet(SocketPacket(sio.ACK, data=[reply], namespace=namespace, id=ack_id))

    # --- rooms and emits --------------------------------------------------------------------------

    def connected_to(self, namespace: str) -> bool:
        return namespace in self.sockets

    async def enter_room(self, socket: Socket, room: str) -> None:
        socket.rooms.add(room)
        if socket.connected:
            hub.join(self, socket.namespace, room)

    async def leave_room(self, socket: Socket, room: str) -> None:
        socket.rooms.discard(room)
        hub.leave(self, socket.namespace, room)

    async def send_event(self, namespace: str, event: str, data: Any) -> None:
        await self.send_frame(encode_event(namespace, event, data))

    async def close_namespace(self, namespace: str) -> None:
        """Ends this connection's socket on ``namespace`` from the server side (``hub.CLOSE``)."""
        socket = self.sockets.get(namespace)
        if socket is not None:
            await self.disconnect_namespace(socket)

    async def disconnect_namespace(self, socket: Socket) -> None:
        if socket.connected:
            await self._send_packet(SocketPacket(sio.DISCONNECT, namespace=socket.namespace))
            await self._drop(socket)

    async def _drop(self, socket: Socket) -> None:
        if self.sockets.get(socket.namespace) is socket:
            del self.sockets[socket.namespace]
        hub.leave_namespace(self, socket.namespace)
        handler = handler_for(socket.namespace)
        if handler is not None:
            try:
                await handler.on_disconnect(socket)
            except Exception:
                logger.exception("namespace disconnect failed: %s", socket.namespace)


class SocketIOConsumer(EngineSession):
    """The websocket transport: one websocket is one Engine.IO session.

    A plain ASGI application rather than a Channels consumer class: Channels' consumer runs
    every connection's ``receive`` as an extra task through ``asyncio.wait`` and keeps the
    routed scope, several KiB of every idle connection (measured); this one awaits
    ``receive`` in its own coroutine and drops the scope once the connection is open.
    """

    def __init__(self, send: Send) -> None:
        self.base_send = send

    @classmethod
    def as_asgi(cls) -> Callable[[dict[str, Any], Receive, Send], Coroutine[Any, Any, None]]:
        """The ASGI application for the router. A plain function: it returns the connection's
        coroutine without a frame of its own that would keep the routed scope alive."""

        def app(scope: dict[str, Any], receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
            return cls(send).run(scope, receive)

        return app

    async def run(self, scope: dict[str, Any], receive: Receive) -> None:
        try:
            message = await receive()
            if message["type"] != "websocket.connect":
                return
            await self.connect(scope)
            del scope
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        await self.receive(text_data=text)
                    else:
                        await self.receive(bytes_data=message.get("bytes"))
                elif kind == "websocket.disconnect":
                    return
        finally:
            await self.disconnect()

    async def connect(self, scope: dict[str, Any]) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("EIO") != ["4"] or query.get("transport") != ["websocket"] or not origin_allowed(scope):
            await self.close(code=POLICY_VIOLATION)
            return
        self.member_id = uuid.uuid4().hex
        self.client_address = scope_address(scope)
        await self.base_send({"type": "websocket.accept"})
        self.start()
        await self.send_frame(self.open_frame(self.member_id[:20], []))

    async def close(self, code: int | None = None) -> None:
        message: dict[str, Any] = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        await self.base_send(message)

    async def send_frame(self, frame: str) -> None:
        await self.base_send({"type": "websocket.send", "text": frame})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = text_data if text_data is not None else bytes_data
        if frame is None:
            return
        if len(frame) > settings.SOCKETIO_MAX_PAYLOAD:
            await self.close(code=MESSAGE_TOO_BIG)
            return
        if bytes_data is not None:
            return  # binary attachments are not part of any supported event
        try:
            packet = EnginePacket(encoded_packet=text_data)
        except (ValueError, IndexError, TypeError):
            return  # a malformed frame is dropped; the connection stays usable
        await self.handle_packet(packet)

"""The Socket.IO transport: Engine.IO v4 / Socket.IO v5 over the WebSocket transport, as a
Channels consumer at ``/socket.io/``.

Packets are encoded and decoded by the packet classes of python-engineio and python-socketio;
this consumer owns the session around them: the open packet, server pings and pong timeouts,
namespace connects with the ``auth`` object, events and acknowledgements, server-side
disconnects, and room emits arriving through the channel layer from any process.

Long-polling is not served: the real clients connect with the websocket transport directly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

import engineio.packet as eio
import orjson
import socketio.packet as sio
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from wegent.realtime import emitter
from wegent.realtime.hub import hub
from wegent.realtime.namespaces import AfterEmits, ConnectionRefused, Socket, handler_for
from wegent.realtime.packets import EnginePacket, SocketPacket, encode_event

logger = logging.getLogger(__name__)

# WebSocket close codes.
POLICY_VIOLATION, MESSAGE_TOO_BIG = 1008, 1009


def _origin_allowed(scope: dict[str, Any]) -> bool:
    allowed = settings.SOCKETIO_ALLOWED_ORIGINS
    if "*" in allowed:
        return True
    origin = dict(scope.get("headers") or []).get(b"origin")
    # Non-browser clients (the local executor, scripts) send no Origin header.
    return origin is None or origin.decode("latin-1") in allowed


class SocketIOConsumer(AsyncWebsocketConsumer):
    """One Engine.IO connection (one browser tab or client process)."""

    # No channel-layer channel per socket: rooms and delivery are the hub's (see hub.py).
    channel_layer_alias = "wegent-realtime-sockets-use-the-hub"

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch first closes stale database connections through a thread hop, for
        # every frame and every room message: this consumer touches the database only through
        # ``wegent.realtime.db.run_sync``, which manages connections itself, so that hop (a
        # large share of a chunk's delivery cost, profiled) is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        if (
            query.get("EIO") != ["4"]
            or query.get("transport") != ["websocket"]
            or not _origin_allowed(self.scope)
        ):
            await self.close(code=POLICY_VIOLATION)
            return
        self.sockets: dict[str, Socket] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.member_id = uuid.uuid4().hex
        self.pong = asyncio.Event()
        emitter.remember_loop()
        await self.accept()
        hub.register(self)
        await self.send(
            text_data=EnginePacket(
                eio.OPEN,
                data={
                    "sid": self.member_id[:20],
                    "upgrades": [],
                    "pingInterval": settings.SOCKETIO_PING_INTERVAL * 1000,
                    "pingTimeout": settings.SOCKETIO_PING_TIMEOUT * 1000,
                    "maxPayload": settings.SOCKETIO_MAX_PAYLOAD,
                },
            ).encode()
        )
        self.heartbeat = asyncio.ensure_future(self._heartbeat())

    # --- the connection -----------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _heartbeat(self) -> None:
        """Server pings every interval; a client that does not answer in time is closed."""
        while True:
            await asyncio.sleep(settings.SOCKETIO_PING_INTERVAL)
            self.pong.clear()
            try:
                await self.send(text_data=EnginePacket(eio.PING).encode())
                await asyncio.wait_for(self.pong.wait(), timeout=settings.SOCKETIO_PING_TIMEOUT)
            except TimeoutError:
                await self.close()
                return
            except (OSError, RuntimeError):  # the client is gone: the disconnect handler cleans up
                return

    async def disconnect(self, code: int) -> None:
        # Event handlers still running may be writing rows: they finish; the heartbeat stops.
        heartbeat = getattr(self, "heartbeat", None)
        if heartbeat is not None:
            heartbeat.cancel()
        for socket in list(getattr(self, "sockets", {}).values()):
            await self._drop(socket)
        if hasattr(self, "member_id"):
            hub.unregister(self)

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
        if packet.packet_type == eio.PONG:
            self.pong.set()
        elif packet.packet_type == eio.PING:
            await self.send(text_data=EnginePacket(eio.PONG, data=packet.data).encode())
        elif packet.packet_type == eio.CLOSE:
            await self.close()
        elif packet.packet_type == eio.MESSAGE and isinstance(packet.data, str):
            await self._on_socketio(packet.data)

    async def _send_packet(self, packet: SocketPacket) -> None:
        await self.send(text_data=EnginePacket(eio.MESSAGE, data=packet.encode()).encode())

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
            await handler.on_connect(socket, auth)
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

    async def send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def enter_room(self, socket: Socket, room: str) -> None:
        socket.rooms.add(room)
        if socket.connected:
            hub.join(self, socket.namespace, room)

    async def leave_room(self, socket: Socket, room: str) -> None:
        socket.rooms.discard(room)
        hub.leave(self, socket.namespace, room)

    async def send_event(self, namespace: str, event: str, data: Any) -> None:
        await self.send(text_data=encode_event(namespace, event, data))

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

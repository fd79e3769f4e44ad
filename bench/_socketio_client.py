"""Socket.IO clients for the chat benchmarks.

The bench process shares the machine's two cores with the server it measures: what the
client spends per received event is taken from the server and shows up in its figures.

``LeanChatSocket`` (the default): a bare WebSocket on ``/chat`` with the Engine.IO/Socket.IO
protocol done by hand: the open packet, ``40/chat,{"token": ...}`` and its ack, ``2`` -> ``3``
pings, ``42/chat,<id>[event, data]`` emits with their ``43/chat,<id>[...]`` acks, and incoming
``42/chat,[event, data]`` parsed with orjson. The WebSocket is websockets' Sans-I/O protocol
on an asyncio ``Protocol``, so each frame is handled in ``data_received``. CPU per received
event, 100 sockets receiving 10,200 events in all from a separate process (2 cores, uvloop):
python-socketio's ``AsyncClient`` 90-130 us (it creates an asyncio task per packet), the same
protocol on websockets' asyncio connections 50-65 us (a reader task, a future per message),
this one 40-50 us (most of what is left is the kernel's and the frame parser's).

``ChatSocket``: the same recording on python-socketio's ``AsyncClient`` (``--client
socketio``), the reference implementation to check the lean one against.

Both time-stamp every stream event on arrival and rebuild each answer from its chunks
(checking the offsets): see ``StreamRecorder``.

``IdleSocket``: a ``LeanChatSocket`` that is only kept open (the idle phase's thousand
connections): it answers the server's pings and sends nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import socketio
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

NAMESPACE = "/chat"
T = TypeVar("T")

# Socket.IO packets on /chat, as Engine.IO "message" packets (type 4) over the WebSocket.
_CONNECT = f"40{NAMESPACE},".encode()
_DISCONNECT = f"41{NAMESPACE},".encode()
_EVENT = f"42{NAMESPACE},".encode()
_ACK = f"43{NAMESPACE},".encode()
_CONNECT_ERROR = f"44{NAMESPACE},".encode()
_OPEN, _PING, _PONG, _CLOSE = b"0", b"2", b"3", b"1"


@dataclass
class Stream:
    """One assistant answer as one socket saw it (times are ``time.perf_counter()``)."""

    subtask_id: int
    task_id: int | None = None
    message_id: int | None = None
    acked: float | None = None  # when the chat:send ack came back (set by the sender)
    started: float | None = None
    first_chunk: float | None = None
    done: float | None = None
    chunks: int = 0
    length: int = 0
    parts: list[str] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected offset, received offset)
    value: str | None = None  # chat:done result.value
    error: str | None = None  # chat:error

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def problems(self, expected: str | None = None) -> list[str]:
        """What is wrong with this answer (empty when it arrived whole and in order)."""
        found = []
        if self.error is not None:
            found.append(f"chat:error {self.error!r}")
        if self.done is None:
            found.append(f"no chat:done ({self.chunks} chunks, {self.length} chars so far)")
        if self.gaps:
            found.append(f"{len(self.gaps)} offset gaps, first (expected, got) {self.gaps[0]}")
        text = self.text
        if self.done is not None and self.value is not None and self.value != text:
            found.append(f"chunks rebuild {len(text)} chars, chat:done says {len(self.value)}")
        if expected is not None and self.done is not None and text != expected:
            found.append(f"text is {len(text)} chars, expected {len(expected)}")
        return found


class StreamRecorder:
    """The stream records of one ``/chat`` connection, and waiting on them. Subclasses feed
    the ``_on_*`` handlers as events are decoded and implement connect, call and close."""

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}
        self.other_errors: list[tuple[str, Any]] = []
        self.disconnected: float | None = None
        self.changed = asyncio.Event()

    # --- events ---------------------------------------------------------------------------------

    def _stream(self, data: dict[str, Any]) -> Stream:
        subtask_id = data.get("subtask_id")
        stream = self.streams.get(subtask_id)  # type: ignore[arg-type]
        if stream is None:
            stream = self.streams[subtask_id] = Stream(subtask_id)  # type: ignore[arg-type]
        if stream.task_id is None:
            stream.task_id = data.get("task_id")
        return stream

    def _on_start(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        stream.started = now
        stream.message_id = data.get("message_id")
        self.changed.set()

    def _on_chunk(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        if stream.first_chunk is None:
            stream.first_chunk = now
        content = data.get("content") or ""
        if data.get("offset") != stream.length:
            stream.gaps.append((stream.length, data.get("offset")))  # type: ignore[arg-type]
        stream.parts.append(content)
        stream.length += len(content)
        stream.chunks += 1
        # No ``changed.set()``: a chunk neither starts nor ends an answer, and waking every
        # waiter on each of them cost the lean client ~10% more CPU.

    def _on_done(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        stream = self._stream(data)
        stream.done = now
        result = data.get("result")
        stream.value = result.get("value") if isinstance(result, dict) else None
        self.changed.set()

    def _on_error(self, data: dict[str, Any]) -> None:
        self._stream(data).error = str(data.get("error"))
        self.changed.set()

    def _other(self, event: str, data: Any) -> None:
        self.other_errors.append((event, data))
        self.changed.set()

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnected = time.perf_counter()
        self.changed.set()

    # --- actions --------------------------------------------------------------------------------

    async def connect(self, url: str, token: str, timeout: float = 10.0) -> StreamRecorder:
        raise NotImplementedError

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def wait(self, predicate: Callable[[], T | None], timeout: float) -> T:
        """The first truthy ``predicate()``, re-checked after every event but ``chat:chunk``
        (a predicate on chunk counts would not be woken); TimeoutError after ``timeout``
        seconds."""

        async def loop() -> T:
            while True:
                found = predicate()
                if found:
                    return found
                if self.disconnected is not None:
                    raise ConnectionError("the server closed the connection")
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    def answer_of(self, task_id: int, message_id: int | None = None) -> Stream | None:
        for stream in self.streams.values():
            if stream.task_id == task_id and (message_id is None or stream.message_id == message_id):
                return stream
        return None

    async def finished(
        self, task_id: int, message_id: int | None = None, timeout: float = 30.0, after_error: float = 2.0
    ) -> Stream:
        """The answer of ``task_id`` (the one with ``message_id`` if given) once chat:done came,
        or ``after_error`` seconds after a chat:error that no chat:done followed."""

        def ended() -> Stream | None:
            stream = self.answer_of(task_id, message_id)
            if stream is not None and (stream.done is not None or stream.error is not None):
                return stream
            return None

        stream = await self.wait(ended, timeout)
        if stream.done is None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await self.wait(lambda: stream.done is not None, after_error)
        return stream


class ChatSocket(StreamRecorder):
    """A ``/chat`` connection on python-socketio's ``AsyncClient`` that records stream events."""

    def __init__(self) -> None:
        super().__init__()
        self.client = socketio.AsyncClient(reconnection=False)
        on = self.client.on
        # Sync handlers: python-socketio calls them as each packet is decoded.
        on("chat:start", self._on_start, namespace=NAMESPACE)
        on("chat:chunk", self._on_chunk, namespace=NAMESPACE)
        on("chat:done", self._on_done, namespace=NAMESPACE)
        on("chat:error", self._on_error, namespace=NAMESPACE)
        on("auth:error", lambda data: self._other("auth:error", data), namespace=NAMESPACE)
        on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    async def connect(self, url: str, token: str, timeout: float = 10.0) -> ChatSocket:
        await asyncio.wait_for(
            self.client.connect(
                url,
                namespaces=[NAMESPACE],
                auth={"token": token},
                transports=["websocket"],
                wait_timeout=timeout,
            ),
            timeout + 5,
        )
        return self

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        return await self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.disconnect(), 10)
        except (TimeoutError, OSError):
            pass


def websocket_url(url: str) -> str:
    """The Engine.IO WebSocket endpoint of the server at ``url`` (``http://host:port``)."""
    return url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + (
        "/socket.io/?EIO=4&transport=websocket"
    )


class _Link(asyncio.Protocol):
    """websockets' Sans-I/O client protocol on an asyncio transport: it does the WebSocket
    handshake, framing, masking, control frames and closing handshake; each text frame goes
    to ``LeanChatSocket._packet`` as soon as it is parsed."""

    def __init__(self, owner: LeanChatSocket, protocol: ClientProtocol) -> None:
        self.owner = owner
        self.protocol = protocol
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        owner.link = self  # the open packet can arrive before create_connection returns

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.owner._packet(event.data)
            elif isinstance(event, Response):
                self.owner._upgraded(protocol.handshake_exc)
        self._flush()  # pongs to WebSocket pings, the reply to a close frame

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.owner._lost()

    def send_text(self, text: bytes) -> None:
        if self.protocol.state is not State.OPEN or self.transport is None:
            raise ConnectionError("the WebSocket is not open")
        self.protocol.send_text(text)
        self._flush()

    def send_close(self) -> None:
        """Starts the closing handshake: our close frame; the server then closes TCP."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close()
            self._flush()

    async def close(self, timeout: float) -> None:
        """The closing handshake, the connection aborted if it is not over after ``timeout``."""
        self.send_close()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():  # websockets' signal to half-close
                transport.write_eof()
            else:
                transport.close()


class LeanChatSocket(StreamRecorder):
    """A ``/chat`` connection on a bare WebSocket that records stream events (see the module
    docstring for why it exists)."""

    def __init__(self) -> None:
        super().__init__()
        self.link: _Link | None = None
        self.token = ""
        self.joined: asyncio.Future[None] | None = None
        self.acks: dict[int, asyncio.Future[list[Any]]] = {}
        self.ids = itertools.count()
        self.handlers: dict[str, Callable[[Any], None]] = {
            "chat:start": self._on_start,
            "chat:chunk": self._on_chunk,
            "chat:done": self._on_done,
            "chat:error": self._on_error,
            "auth:error": lambda data: self._other("auth:error", data),
        }

    async def connect(self, url: str, token: str, timeout: float = 10.0) -> LeanChatSocket:
        return await self._join(websocket_url(url), token, timeout)

    async def _join(self, ws_url: str, token: str, timeout: float, deflate: bool = False) -> LeanChatSocket:
        """Opens the WebSocket and joins ``/chat``; ConnectionError if the upgrade or the
        namespace is refused, TimeoutError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        uri = parse_uri(ws_url)
        # python-socketio's client (aiohttp) does not offer permessage-deflate either.
        extensions = enable_client_permessage_deflate(None) if deflate else None
        self.token = token
        self.joined = loop.create_future()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Link(self, ClientProtocol(uri, extensions=extensions)),
                    uri.host,
                    uri.port,
                    ssl=True if uri.secure else None,
                ),
                timeout,
            )
            await asyncio.wait_for(asyncio.shield(self.joined), timeout)
        except BaseException:
            if self.link is not None:
                self.link.abort()
            raise
        return self

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        """Emits ``event`` with an ack id and returns the ack's arguments like python-socketio's
        ``call`` does: the only one, a tuple of several, or None."""
        if self.link is None or self.disconnected is not None:
            raise ConnectionError("not connected")
        ack_id = next(self.ids)
        future = self.acks[ack_id] = asyncio.get_running_loop().create_future()
        try:
            self.link.send_text(_EVENT + str(ack_id).encode() + orjson.dumps([event, data]))
            args = await asyncio.wait_for(future, timeout)
        finally:
            self.acks.pop(ack_id, None)
        return args[0] if len(args) == 1 else tuple(args) if args else None

    async def close(self) -> None:
        link = self.link
        if link is None:
            return
        with contextlib.suppress(ConnectionError):
            link.send_text(_DISCONNECT)
        await link.close(10)

    # --- packets (called by the link as frames are parsed) --------------------------------------

    def _packet(self, packet: bytes) -> None:
        if packet.startswith(_EVENT):
            self._event(packet)
        elif packet == _PING:
            self._send(_PONG)
        elif packet.startswith(_ACK):
            bracket = packet.index(b"[", len(_ACK))
            future = self.acks.get(int(packet[len(_ACK) : bracket]))
            if future is not None and not future.done():
                future.set_result(orjson.loads(packet[bracket:]))
        elif packet.startswith(_OPEN):
            self._send(_CONNECT + orjson.dumps({"token": self.token}))
        elif packet.startswith(_CONNECT):
            if self.joined is not None and not self.joined.done():
                self.joined.set_result(None)
        elif packet.startswith(_CONNECT_ERROR):
            reason = packet[len(_CONNECT_ERROR) :].decode()
            if self.joined is not None and not self.joined.done():
                self.joined.set_exception(ConnectionError(f"namespace refused: {reason}"))
            else:
                self._other("connect_error", reason)
            self._server_left()
        elif packet.startswith(_DISCONNECT) or packet == _CLOSE:
            self._server_left()

    def _event(self, packet: bytes) -> None:
        """Records one ``42/chat,[event, data]``; acks it if the server asked (python-socketio
        answers with no arguments when the handler returns None)."""
        bracket = packet.index(b"[", len(_EVENT))
        event, *args = orjson.loads(packet[bracket:])
        handler = self.handlers.get(event)
        if handler is not None and args:
            handler(args[0])
        if bracket > len(_EVENT):
            self._send(_ACK + packet[len(_EVENT) : bracket] + b"[]")

    def _send(self, packet: bytes) -> None:
        if self.link is not None:
            with contextlib.suppress(ConnectionError):
                self.link.send_text(packet)

    def _server_left(self) -> None:
        self._on_disconnect()
        if self.link is not None:
            self.link.send_close()

    def _upgraded(self, error: Exception | None) -> None:
        if error is not None and self.joined is not None and not self.joined.done():
            self.joined.set_exception(ConnectionError(f"WebSocket upgrade refused: {error}"))

    def _lost(self) -> None:
        if self.disconnected is None:
            self._on_disconnect()
        if self.joined is not None and not self.joined.done():
            self.joined.set_exception(ConnectionError("the server closed the connection"))
        for future in self.acks.values():
            if not future.done():
                future.set_exception(ConnectionError("the server closed the connection"))


class IdleSocket(LeanChatSocket):
    """A ``/chat`` connection that is only kept open: it answers the server's pings."""

    @classmethod
    async def open(cls, ws_url: str, token: str, timeout: float = 15.0, deflate: bool = False) -> IdleSocket:
        sock = cls()
        await sock._join(ws_url, token, timeout, deflate)
        return sock

    @property
    def closed(self) -> bool:
        return self.disconnected is not None

"""Namespace handlers and the socket object they work with.

A namespace (``/chat``, ``/local-executor``) is a ``Namespace`` subclass registered here by the
app that owns it (in its ``AppConfig.ready``). The transport (``consumer.py``) owns the
connection; a handler sees one ``Socket`` per client per namespace and returns each event's
acknowledgement as a plain value.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from wegent.realtime.consumer import EngineSession


class ConnectionRefused(Exception):
    """Raised by ``on_connect`` to refuse a namespace connection; the message reaches the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Socket:
    """One client's connection to one namespace."""

    __slots__ = ("_consumer", "namespace", "rooms", "session", "sid")

    def __init__(self, consumer: EngineSession, namespace: str) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.namespace = namespace
        self.session: dict[str, Any] = {}
        self.rooms: set[str] = set()
        self._consumer = consumer

    @property
    def connection_id(self) -> str:
        """The connection's id in this process (emits use it to skip the sender or reach it)."""
        return self._consumer.member_id

    @property
    def address(self) -> str:
        """The client's IP address ("" when unknown)."""
        return self._consumer.client_address

    @property
    def connected(self) -> bool:
        return self._consumer.sockets.get(self.namespace) is self

    async def enter_room(self, room: str) -> None:
        await self._consumer.enter_room(self, room)

    async def leave_room(self, room: str) -> None:
        await self._consumer.leave_room(self, room)

    async def emit(self, event: str, data: Any) -> None:
        """Sends an event to this socket only."""
        if self.connected:
            await self._consumer.send_event(self.namespace, event, data)

    async def disconnect(self) -> None:
        """Ends this namespace connection from the server side."""
        await self._consumer.disconnect_namespace(self)


class AfterEmits:
    """An acknowledgement that must reach the client after the events the handler emitted to
    its rooms (e.g. ``task:created`` before the ``chat:send`` ack). Emits write to local sockets
    before they return, so the transport sends it as usual; the marker states the requirement."""

    def __init__(self, value: Any) -> None:
        self.value = value


Handler = Callable[[Socket, Any], Awaitable[Any]]


class Namespace:
    """Base class: map event names to ``async def handler(socket, data) -> ack`` methods."""

    path: ClassVar[str] = "/"
    # event name -> method name (event names contain ':', so they cannot be method names).
    events: ClassVar[dict[str, str]] = {}

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        """Authenticate and set up the session; raise ``ConnectionRefused`` to refuse."""

    async def on_disconnect(self, socket: Socket) -> None:
        """The socket left (client gone, server disconnect or connection closed)."""

    def handler(self, event: str) -> Handler | None:
        name = self.events.get(event)
        return getattr(self, name) if name is not None else None


_REGISTRY: dict[str, Namespace] = {}


def register(namespace: Namespace) -> None:
    _REGISTRY[namespace.path] = namespace


def unregister(path: str) -> None:
    _REGISTRY.pop(path, None)


def handler_for(path: str) -> Namespace | None:
    return _REGISTRY.get(path)


def paths() -> tuple[str, ...]:
    """The registered namespaces' paths."""
    return tuple(_REGISTRY)

"""The ASGI server as this project runs it: uvicorn with a leaner WebSocket protocol.

``manage.py serve`` starts it (``run``); the live-server tests serve with the same WebSocket
settings (``websocket_options``) so they exercise what production runs.

What is replaced and why: uvicorn's websockets (sans-I/O) protocol keeps, per connection, an
``asyncio.Queue``, an ``asyncio.Event``, an instance dict and the handshake's header maps for
the life of the connection, and frames every outgoing message through websockets' general
writer. With thousands of idle Socket.IO connections and a frame per chat chunk, that was
kilobytes per connection and a third of the CPU per chunk (measured). ``LeanWebSocketProtocol``
keeps uvicorn's protocol and wire behaviour and swaps those parts for slotted, lazily built
ones (``_Inbox``, ``_Gate``) and a direct text-frame writer (``text_frame``). Check them again
when uvicorn or websockets is upgraded: they lean on the protocol's attribute names.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

from django.conf import settings
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State


class _Inbox:
    """What uvicorn's protocol uses of ``asyncio.Queue`` (``put_nowait``, ``get``, ``empty``).

    ``asyncio.Queue`` allocates four deques up front (about 3 KiB of every idle connection,
    measured); this holds a short list and the futures of waiting readers only.
    """

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                self._getters.remove(getter)
                if getter.done() and not getter.cancelled():
                    self._wake()  # woken and cancelled at once: pass the item on
                raise
            self._getters.remove(getter)
        return self._items.pop(0)

    def _wake(self) -> None:
        for getter in self._getters or ():
            if not getter.done():
                getter.set_result(None)
                return


class _Gate:
    """What uvicorn's protocol uses of ``asyncio.Event`` for its ``writable`` flag.

    Open nearly always; waiters (a peer that stopped reading) are the rare case, so their
    list is made only then instead of a deque per connection.
    """

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        if self._open:
            return
        self._open = True
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            self._waiters.remove(waiter)


_LENGTH_16, _LENGTH_64 = struct.Struct("!BBH"), struct.Struct("!BBQ")


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2): what websockets writes for a server's
    ``send_text`` without extensions, for a fraction of its cost."""
    length = len(data)
    if length < 126:
        return bytes((0x81, length)) + data
    if length < 65536:
        return _LENGTH_16.pack(0x81, 126, length) + data
    return _LENGTH_64.pack(0x81, 127, length) + data


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol, smaller per idle connection.

    The attributes live in slots (uvicorn sets more than fit a shared-key instance dict, so
    each connection carried a 1.5 KiB dict), the message queue and the writable flag are the
    lighter ones above, and the handshake's request and response (their header maps) are
    emptied once the connection is accepted. Text messages on an open connection are framed
    here (a third of the cost per chat chunk, measured). Nothing of the wire behaviour changes.
    """

    __slots__ = (
        "app", "app_state", "asgi_version", "client", "close_sent", "close_timeout", "close_timer",
        "config", "conn", "connections", "curr_msg_data_type", "default_headers", "disconnected",
        "frames", "handshake_complete", "handshake_initiated", "initial_response", "last_ping_rtt",
        "logger", "loop", "pending_ping_payload", "ping_interval", "ping_sent_at", "ping_timeout",
        "ping_timer", "pong_timer", "queue", "read_paused", "request", "response", "root_path",
        "scheme", "scope", "server", "tasks", "transport", "writable",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        writable = self.writable
        self.writable = _Gate()  # type: ignore[assignment]
        if writable.is_set():
            self.writable.set()

    async def send(self, message: Any) -> None:
        # Every chat chunk to every socket comes here: a text message on an open connection
        # without extensions is framed and written directly; everything else (and any state
        # that is not plain open) takes uvicorn's path.
        conn = self.conn
        if (
            message["type"] == "websocket.send"
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and conn.state is State.OPEN
            and not conn.extensions
            and not conn.expect_continuation_frame
            and not conn.debug
        ):
            text = message.get("text")
            if text is not None:
                self.transport.write(text_frame(text.encode()))
                return
        await super().send(message)

    def start_keepalive(self) -> None:
        # Called right after the accepting response is written: the handshake is over.
        super().start_keepalive()
        # websockets' parser keeps the request as a local of its generator for the life of the
        # connection, so its headers are emptied rather than only let go.
        self.request.headers.clear()
        self.request = self.response = None  # type: ignore[assignment]


def websocket_options() -> dict[str, Any]:
    """uvicorn's WebSocket settings of the server (the transport tests serve with them too)."""
    return {
        "ws": LeanWebSocketProtocol,
        "ws_max_size": 16 * 1024 * 1024,
        # Engine.IO pings every socket itself; compression of small chat frames costs more
        # memory per connection (about 45 KiB with zlib contexts, measured) than it saves.
        "ws_ping_interval": None,
        "ws_per_message_deflate": False,
    }


def run(host: str, port: int) -> None:
    """Serves ``wegent.asgi:application`` on ``host:port`` until the process is stopped."""
    import uvicorn

    config = uvicorn.Config(
        "wegent.asgi:application",
        host=host,
        port=port,
        lifespan="on",
        # Running chat streams get their grace period in the lifespan shutdown.
        timeout_graceful_shutdown=settings.CHAT_SHUTDOWN_GRACE_SECONDS + 15,
        log_config=None,  # Django's LOGGING already formats every logger.
        access_log=False,
        proxy_headers=True,
        **websocket_options(),
    )
    # Import the app now and move everything it built out of the cyclic GC's sight: full
    # collections otherwise rescan every long-lived object and stall requests (p99).
    import gc

    import wegent.asgi  # noqa: F401

    gc.collect()
    gc.freeze()
    # Database work runs in threads beside the event loop. Each query gives up the GIL and
    # must win it back from a busy loop; at the default 5 ms interval a burst of chats took
    # seconds to start under streaming load (measured), at 0.5 ms it does not.
    sys.setswitchinterval(settings.GIL_SWITCH_INTERVAL)
    uvicorn.Server(config).run()

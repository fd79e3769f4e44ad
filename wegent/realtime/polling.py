"""Engine.IO v4 HTTP long-polling at ``/socket.io/?transport=polling``, and the upgrade of a
polling session to a websocket.

A polling session is an ``EngineSession`` (the Socket.IO layer the websocket transport uses)
that lives in the process that answered its handshake, its *owner*: its namespaces, rooms and
heartbeat are there. Its HTTP requests may reach any process (no sticky sessions):

* embedded mode (no Redis, one process): the outgoing packets wait in the session's own queue;
* with ``REDIS_URL``: they wait in a Redis list per session (``wegent:eio:<sid>:out``), so a GET
  on any process pops them; a POST on another process is relayed to the owner over the owner's
  own pub/sub channel and answered once the owner has handled it (so packets keep their order
  whichever process each POST reached). Every key has a TTL renewed by the client's pongs.

Framing uses python-engineio's ``Payload`` (packets joined by the record separator ``\\x1e``).
The error answers are the Engine.IO servers' ``{"code": n, "message": ...}`` with status 400.
The websocket upgrade (probe ``2probe``/``3probe``, then ``5``) is served by the owner; a probe
reaching another process is refused, and the client keeps polling.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
import weakref
from typing import Any
from urllib.parse import parse_qs

import engineio.packet as eio
import engineio.payload
import orjson
import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from wegent.realtime.consumer import (
    POLICY_VIOLATION,
    EngineSession,
    Receive,
    Send,
    origin_allowed,
    scope_address,
)
from wegent.realtime.hub import PROCESS_ID
from wegent.realtime.packets import EnginePacket
from wegent.realtime.pubsub import listen_forever
from wegent.realtime.redis_batch import batcher

logger = logging.getLogger(__name__)

NOOP, CLOSE = "6", "1"
MAX_FRAMES_PER_POLL = 1000  # one GET answers with at most this many packets; the rest wait
RELAY_TIMEOUT = 10.0  # a POST relayed to the owner waits this long for its receipt
ERRORS = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}


class _Payload(engineio.payload.Payload):
    # python-engineio allows 16 packets per payload; a browser batches every packet written
    # since its last POST, so more are allowed (the body is bounded by maxPayload anyway).
    max_decode_packets = 256


class BadRequest(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(ERRORS[code])
        self.code = code


# --- the session, in its owner process ------------------------------------------------------------

SESSIONS: dict[str, PollingSession] = {}
_polling_here: set[str] = set()  # sids with a GET pending in this process


def poll_pending(sid: str) -> bool:
    """Whether this process holds a GET of ``sid`` open (for tests)."""
    return sid in _polling_here


def _ttl_ms() -> int:
    # Renewed by every pong; a session whose owner died is forgotten after one missed cycle.
    return (settings.SOCKETIO_PING_INTERVAL + settings.SOCKETIO_PING_TIMEOUT) * 1000 + 5000


class PollingSession(EngineSession):
    def __init__(self) -> None:
        self.member_id = uuid.uuid4().hex
        self.sid = self.member_id
        self.closed = False
        self.input_lock = asyncio.Lock()  # the client's packets are handled one POST at a time
        # Embedded mode: the outgoing queue itself. With Redis it stays empty.
        self.outbox: collections.deque[str] = collections.deque()
        self.ready = asyncio.Event()
        # After the upgrade: the websocket's send. While switching: frames held back meanwhile.
        self.ws_send: Send | None = None
        self.held: list[str] | None = None

    async def send_frame(self, frame: str) -> None:
        if self.ws_send is not None:
            await self.ws_send({"type": "websocket.send", "text": frame})
        elif self.held is not None:
            self.held.append(frame)
        else:
            store().push(self, frame)

    async def close(self, code: int | None = None) -> None:
        """Ends the session (client close, ping timeout, overlapping polls, websocket gone)."""
        if self.closed:
            return
        self.closed = True
        SESSIONS.pop(self.sid, None)
        if self.ws_send is not None:
            ws_send, self.ws_send = self.ws_send, None
            try:
                await ws_send({"type": "websocket.close", "code": code or 1000})
            except (OSError, RuntimeError):
                pass
        else:
            store().push(self, CLOSE)  # ends a pending poll
        store().end(self)
        await self.disconnect()

    def on_pong(self) -> None:
        store().renew(self)

    async def feed(self, packets: list[eio.Packet]) -> None:
        async with self.input_lock:
            for packet in packets:
                if self.closed:
                    return
                await self.handle_packet(packet)

    async def switch_to_websocket(self, send: Send) -> None:
        """Moves the outgoing packets to the websocket: the queued ones first, in order, then
        those emitted meanwhile, then every later one directly (none is lost or reordered)."""
        self.held = []
        try:
            queued = await store().drain(self)
            for frame in queued:
                await send({"type": "websocket.send", "text": frame})
            while self.held:
                frame = self.held.pop(0)
                await send({"type": "websocket.send", "text": frame})
            self.ws_send = send
        finally:
            self.held = None


# --- where the packets wait -----------------------------------------------------------------------


class _LocalStore:
    """Embedded mode: the session's own queue, in this process."""

    async def open(self, session: PollingSession) -> None:
        SESSIONS[session.sid] = session

    def push(self, session: PollingSession, frame: str) -> None:
        session.outbox.append(frame)
        session.ready.set()

    def renew(self, session: PollingSession) -> None:
        pass

    def end(self, session: PollingSession) -> None:
        pass

    async def drain(self, session: PollingSession) -> list[str]:
        frames = list(session.outbox)
        session.outbox.clear()
        return frames

    async def take(self, sid: str, hold: float) -> list[str]:
        session = SESSIONS.get(sid)
        if session is None:
            raise BadRequest(1)
        if sid in _polling_here:
            await session.close()
            raise BadRequest(3)
        _polling_here.add(sid)
        try:
            if not session.outbox:
                session.ready.clear()
                try:
                    await asyncio.wait_for(session.ready.wait(), hold)
                except TimeoutError:
                    return [NOOP]
            count = min(len(session.outbox), MAX_FRAMES_PER_POLL)
            return [session.outbox.popleft() for _ in range(count)]
        finally:
            _polling_here.discard(sid)

    async def post(self, sid: str, body: str, packets: list[eio.Packet]) -> None:
        session = SESSIONS.get(sid)
        if session is None:
            raise BadRequest(1)
        await session.feed(packets)


def _owner_key(sid: str) -> str:
    return f"wegent:eio:{sid}"


def _out_key(sid: str) -> str:
    return f"wegent:eio:{sid}:out"


def _poll_key(sid: str) -> str:
    return f"wegent:eio:{sid}:get"


def _channel(process: str) -> str:
    return f"{settings.REDIS_CHANNEL_PREFIX}eio:process:{process}"


class _RedisStore:
    """Scaled mode: queues in Redis, reachable from every process; commands go through the
    loop's ordered batcher, so a frame pushed before a drain is in the list the drain empties."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.batch = batcher(url)
        # Per event loop (connections cannot cross loops): the blocking-pop client, and this
        # process's channel listener with the event set once it is subscribed.
        self._blocking: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._listeners: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Task[None], asyncio.Event]
        ] = weakref.WeakKeyDictionary()
        self._receipts: dict[str, asyncio.Future[bool]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # the owner's side

    async def open(self, session: PollingSession) -> None:
        await self._subscribed()
        SESSIONS[session.sid] = session
        await self.batch.call("SET", _owner_key(session.sid), PROCESS_ID, "PX", _ttl_ms())

    def push(self, session: PollingSession, frame: str) -> None:
        key = _out_key(session.sid)
        self.batch.send("RPUSH", key, frame)
        self.batch.send("PEXPIRE", key, _ttl_ms())

    def renew(self, session: PollingSession) -> None:
        self.batch.send("PEXPIRE", _owner_key(session.sid), _ttl_ms())
        self.batch.send("PEXPIRE", _out_key(session.sid), _ttl_ms())

    def end(self, session: PollingSession) -> None:
        # The queue lives on only until a pending poll has taken the CLOSE packet.
        self.batch.send("DEL", _owner_key(session.sid))
        self.batch.send("PEXPIRE", _out_key(session.sid), settings.SOCKETIO_PING_TIMEOUT * 1000)

    async def drain(self, session: PollingSession) -> list[str]:
        frames = await self.batch.call("LPOP", _out_key(session.sid), 1_000_000)
        return [frame.decode() for frame in frames or ()]

    # any process's side

    async def take(self, sid: str, hold: float) -> list[str]:
        if sid not in SESSIONS and not await self.batch.call("EXISTS", _owner_key(sid)):
            raise BadRequest(1)
        lease = int(hold * 1000) + 5000
        claimed = await self.batch.call("SET", _poll_key(sid), PROCESS_ID, "NX", "PX", lease)
        if not claimed:
            await self._close_session(sid)
            raise BadRequest(3)
        _polling_here.add(sid)
        try:
            first = await self._blocking_client().blpop([_out_key(sid)], timeout=hold)
            if first is None:
                return [NOOP]
            rest = await self.batch.call("LPOP", _out_key(sid), MAX_FRAMES_PER_POLL - 1)
            return [first[1].decode(), *(frame.decode() for frame in rest or ())]
        finally:
            _polling_here.discard(sid)
            # Awaited: the client's next GET may reach another process as soon as this one
            # answers, and must not find the claim still held (it would look like an overlap).
            await self.batch.call("DEL", _poll_key(sid))

    async def post(self, sid: str, body: str, packets: list[eio.Packet]) -> None:
        session = SESSIONS.get(sid)
        if session is not None:
            await session.feed(packets)
            return
        owner = await self.batch.call("GET", _owner_key(sid))
        if owner is None:
            raise BadRequest(1)
        await self._subscribed()
        receipt = uuid.uuid4().hex
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._receipts[receipt] = future
        try:
            message = orjson.dumps({"k": "in", "sid": sid, "b": body, "r": receipt, "p": PROCESS_ID})
            if not await self.batch.call("PUBLISH", _channel(owner.decode()), message):
                raise BadRequest(1)  # the owner process is gone
            if not await asyncio.wait_for(future, RELAY_TIMEOUT):
                raise BadRequest(1)
        except TimeoutError:
            raise BadRequest(1) from None
        finally:
            self._receipts.pop(receipt, None)

    async def _close_session(self, sid: str) -> None:
        session = SESSIONS.get(sid)
        if session is not None:
            await session.close()
            return
        owner = await self.batch.call("GET", _owner_key(sid))
        if owner is not None:
            message = orjson.dumps({"k": "close", "sid": sid})
            self.batch.send("PUBLISH", _channel(owner.decode()), message)

    # this process's channel: packets for its sessions, receipts for the POSTs it relayed

    def _blocking_client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._blocking.get(loop)
        if client is None:
            client = self._blocking[loop] = aioredis.Redis.from_url(self.url)
        return client

    async def _subscribed(self) -> None:
        loop = asyncio.get_running_loop()
        found = self._listeners.get(loop)
        if found is None or found[0].done():
            ready = asyncio.Event()
            found = self._listeners[loop] = (loop.create_task(self._listen(ready)), ready)
        await asyncio.wait_for(found[1].wait(), RELAY_TIMEOUT)

    async def _listen(self, ready: asyncio.Event) -> None:
        await listen_forever(
            self.url,
            _channel(PROCESS_ID),
            self._on_message,
            what="engine.io polling listener",
            subscribed=ready,
        )

    def _on_message(self, raw: bytes) -> None:
        try:
            data: dict[str, Any] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        kind = data.get("k")
        if kind == "ok":
            future = self._receipts.get(data.get("r", ""))
            if future is not None and not future.done():
                future.set_result(bool(data.get("ok")))
            return
        session = SESSIONS.get(data.get("sid", ""))
        if kind == "in":
            task = asyncio.ensure_future(self._relayed(session, data))
        elif kind == "close" and session is not None:
            task = asyncio.ensure_future(session.close())
        else:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relayed(self, session: PollingSession | None, data: dict[str, Any]) -> None:
        handled = False
        if session is not None:
            try:
                await session.feed(_decode(data["b"]))
                handled = True
            except BadRequest:
                pass
        receipt = orjson.dumps({"k": "ok", "r": data["r"], "ok": handled})
        self.batch.send("PUBLISH", _channel(data["p"]), receipt)


_stores: dict[str, _RedisStore] = {}
_local = _LocalStore()


def store() -> _LocalStore | _RedisStore:
    url = settings.REDIS_URL
    if not url:
        return _local
    found = _stores.get(url)
    if found is None:
        found = _stores[url] = _RedisStore(url)
    return found


def _decode(body: str) -> list[eio.Packet]:
    try:
        return _Payload(encoded_payload=body).packets
    except (ValueError, IndexError, TypeError, KeyError):
        raise BadRequest(3) from None


# --- HTTP ---------------------------------------------------------------------------------------------


async def http_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI application for ``/socket.io/`` HTTP requests."""
    headers = [(b"cache-control", b"no-store")]
    origin = dict(scope.get("headers") or []).get(b"origin")
    if origin is not None and origin_allowed(scope):
        headers += [(b"access-control-allow-origin", origin), (b"access-control-allow-credentials", b"true")]
    try:
        body = await _respond(scope, receive)
        await _send(send, 200, b"text/plain; charset=UTF-8", body.encode(), headers)
    except BadRequest as error:
        answer = orjson.dumps({"code": error.code, "message": ERRORS[error.code]})
        status = 403 if error.code == 4 else 400
        await _send(send, status, b"application/json", answer, headers)
    except (RedisError, OSError, TimeoutError):
        # Redis unreachable: the client retries (a 5xx it expects from a proxy too), not a crash.
        logger.warning("engine.io polling request failed: Redis unavailable", exc_info=True)
        answer = orjson.dumps({"code": 3, "message": "Service unavailable"})
        await _send(send, 503, b"application/json", answer, headers)


async def _respond(scope: dict[str, Any], receive: Receive) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("EIO") != ["4"]:
        raise BadRequest(5)
    if query.get("transport") != ["polling"]:
        raise BadRequest(0)
    if not origin_allowed(scope):
        raise BadRequest(4)
    method = scope.get("method")
    sid = (query.get("sid") or [""])[0]
    if not sid:
        if method != "GET":
            raise BadRequest(2)
        return await _handshake(scope_address(scope))
    if method == "GET":
        return "\x1e".join(await store().take(sid, float(settings.SOCKETIO_PING_INTERVAL)))
    if method == "POST":
        text = await _read_body(scope, receive)
        await store().post(sid, text, _decode(text))
        return "ok"
    raise BadRequest(3)


async def _handshake(address: str) -> str:
    session = PollingSession()
    session.client_address = address
    await store().open(session)
    session.start()
    return session.open_frame(session.sid, ["websocket"])


async def _read_body(scope: dict[str, Any], receive: Receive) -> str:
    limit = settings.SOCKETIO_MAX_PAYLOAD
    declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
    if not declared.isdigit() or int(declared) > limit:
        raise BadRequest(3)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(3)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequest(3)
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        return b"".join(chunks).decode()
    except UnicodeDecodeError:
        raise BadRequest(3) from None


async def _send(send: Send, status: int, content_type: bytes, body: bytes, headers: list) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- the upgrade ----------------------------------------------------------------------------------------


async def upgrade_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """A websocket with ``sid=``: the probe and upgrade of a polling session this process owns."""
    if (await receive())["type"] != "websocket.connect":
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    session = SESSIONS.get((query.get("sid") or [""])[0])
    if (
        session is None
        or session.closed
        or session.ws_send is not None
        or query.get("EIO") != ["4"]
        or query.get("transport") != ["websocket"]
        or not origin_allowed(scope)
    ):
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    del scope
    await send({"type": "websocket.accept"})
    if await _text(receive) != "2probe":
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    await send({"type": "websocket.send", "text": "3probe"})
    await session.send_frame(NOOP)  # ends the pending poll: the client pauses polling there
    if await _text(receive) != "5" or session.closed:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    await session.switch_to_websocket(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                continue  # binary attachments are not part of any supported event
            if len(text) > settings.SOCKETIO_MAX_PAYLOAD:
                return
            try:
                packet = EnginePacket(encoded_packet=text)
            except (ValueError, IndexError, TypeError):
                continue
            await session.feed([packet])
    finally:
        await session.close()


async def _text(receive: Receive) -> str | None:
    message = await receive()
    return message.get("text") if message["type"] == "websocket.receive" else None

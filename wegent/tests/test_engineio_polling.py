"""Engine.IO v4 long-polling at the protocol level, on the real ASGI app on loopback with raw
HTTP requests: the handshake, payload framing, pings over polling, and the error answers the
Engine.IO servers give (a client library never provokes them).

On the PostgreSQL+Redis leg the session queues are in Redis; there the session's keys must be
gone once it ends (no key leak).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from django.conf import settings

from wegent.realtime.namespaces import ConnectionRefused, Namespace, Socket, register, unregister

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


class PollEcho(Namespace):
    path = "/test-poll"
    events = {"echo": "on_echo"}

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        if not isinstance(auth, dict) or auth.get("token") != "good":
            raise ConnectionRefused("Invalid or expired token")

    async def on_echo(self, socket: Socket, data: Any) -> Any:
        await socket.emit("echoed", data)
        return {"echo": data}


@pytest.fixture(autouse=True)
def _namespace():
    register(PollEcho())
    yield
    unregister(PollEcho.path)


def _url(base: str, sid: str = "", transport: str = "polling", eio: str = "4") -> str:
    return f"{base}/socket.io/?EIO={eio}&transport={transport}" + (f"&sid={sid}" if sid else "")


async def _handshake(http: httpx.AsyncClient, base: str) -> dict[str, Any]:
    response = await http.get(_url(base))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("0{")
    return json.loads(response.text[1:])


def test_handshake_connect_event_ack_and_push_in_payloads(live_server_url):
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            opened = await _handshake(http, live_server_url)
            assert opened["upgrades"] == ["websocket"]
            assert opened["pingInterval"] == settings.SOCKETIO_PING_INTERVAL * 1000
            assert opened["pingTimeout"] == settings.SOCKETIO_PING_TIMEOUT * 1000
            assert opened["maxPayload"] == settings.SOCKETIO_MAX_PAYLOAD
            url = _url(live_server_url, opened["sid"])
            # Two packets in one POST, separated by the record separator.
            body = '40/test-poll,{"token":"good"}\x1e42/test-poll,7["echo",{"n":1}]'
            posted = await http.post(url, content=body.encode())
            assert posted.status_code == 200 and posted.text == "ok"
            packets: list[str] = []
            while not any(p.startswith("43/test-poll,7") for p in packets):
                packets += (await http.get(url)).text.split("\x1e")
            assert packets[0].startswith('40/test-poll,{"sid":')
            assert '42/test-poll,["echoed",{"n":1}]' in packets
            assert '43/test-poll,7[{"echo":{"n":1}}]' in packets
            # A client close ends the session: the sid is unknown afterwards.
            assert (await http.post(url, content=b"1")).status_code == 200
            gone = await http.get(url)
            assert gone.status_code == 400
            assert gone.json() == {"code": 1, "message": "Session ID unknown"}

    asyncio.run(scenario())


def test_refused_namespace_connect_reaches_the_polling_client(live_server_url):
    async def scenario() -> list[str]:
        async with httpx.AsyncClient(timeout=30) as http:
            opened = await _handshake(http, live_server_url)
            url = _url(live_server_url, opened["sid"])
            await http.post(url, content=b'40/test-poll,{"token":"bad"}')
            return (await http.get(url)).text.split("\x1e")

    assert asyncio.run(scenario()) == ['44/test-poll,{"message":"Invalid or expired token"}']


def test_protocol_errors_answer_400_with_the_engineio_codes(live_server_url):
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            unknown = await http.get(_url(live_server_url, "no-such-session"))
            assert unknown.status_code == 400
            assert unknown.json() == {"code": 1, "message": "Session ID unknown"}
            unknown_post = await http.post(_url(live_server_url, "no-such-session"), content=b"3")
            assert unknown_post.status_code == 400 and unknown_post.json()["code"] == 1
            transport = await http.get(_url(live_server_url, transport="carrier-pigeon"))
            assert transport.status_code == 400
            assert transport.json() == {"code": 0, "message": "Transport unknown"}
            version = await http.get(_url(live_server_url, eio="3"))
            assert version.status_code == 400
            assert version.json() == {"code": 5, "message": "Unsupported protocol version"}
            handshake_post = await http.post(_url(live_server_url), content=b"40")
            assert handshake_post.status_code == 400
            assert handshake_post.json() == {"code": 2, "message": "Bad handshake method"}

            opened = await _handshake(http, live_server_url)
            url = _url(live_server_url, opened["sid"])
            too_big = "4" + "x" * settings.SOCKETIO_MAX_PAYLOAD
            oversize = await http.post(url, content=too_big.encode())
            assert oversize.status_code == 400 and oversize.json()["code"] == 3
            garbage = await http.post(url, content=b"\x1e\x1ezzz")
            assert garbage.status_code == 400 and garbage.json()["code"] == 3
            # A refused POST does not end the session.
            assert (await http.post(url, content=b'40/test-poll,{"token":"good"}')).text == "ok"
            assert (await http.get(url)).text.startswith("40/test-poll,")

    asyncio.run(scenario())


def test_a_second_get_while_one_is_pending_is_refused_and_closes_the_session(live_server_url):
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            opened = await _handshake(http, live_server_url)
            url = _url(live_server_url, opened["sid"])
            first = asyncio.ensure_future(http.get(url))
            # The first GET is pending once the server holds it; a POST proves the session is live.
            await _until(lambda: _pending_polls(opened["sid"]))
            second = await http.get(url)
            assert second.status_code == 400 and second.json()["code"] == 3
            # The session is closed: the pending poll ends with a CLOSE packet.
            assert (await first).text.split("\x1e")[-1] == "1"
            after = await http.get(url)
            assert after.status_code == 400 and after.json()["code"] == 1

    asyncio.run(scenario())


def _pending_polls(sid: str) -> bool:
    from wegent.realtime import polling

    return polling.poll_pending(sid)


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def test_pings_go_out_over_polling_and_a_silent_session_expires(live_server_url, settings):
    settings.SOCKETIO_PING_INTERVAL = 1
    settings.SOCKETIO_PING_TIMEOUT = 1

    async def scenario() -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            opened = await _handshake(http, live_server_url)
            sid = opened["sid"]
            url = _url(live_server_url, sid)
            # Answered pings keep the session alive past several intervals.
            pongs = 0
            while pongs < 3:
                packets = (await http.get(url)).text.split("\x1e")
                if "2" in packets:
                    assert (await http.post(url, content=b"3")).text == "ok"
                    pongs += 1
            # Then silence: the server closes the session after the ping timeout.
            while True:
                response = await http.get(url)
                if response.status_code == 400:
                    assert response.json()["code"] == 1
                    return sid
                assert response.status_code == 200

    sid = asyncio.run(scenario())
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        assert client.keys(f"*{sid}*") == [], "an ended session leaves no Redis key behind"


def test_an_unreachable_redis_answers_503_not_500(live_server_url, settings, monkeypatch):
    from wegent.realtime import polling
    from wegent.tests.helpers import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    monkeypatch.setattr(polling, "RELAY_TIMEOUT", 0.5)

    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.get(_url(live_server_url))

    response = asyncio.run(scenario())
    assert response.status_code == 503
    assert response.json() == {"code": 3, "message": "Service unavailable"}

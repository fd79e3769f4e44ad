"""Project-wide fixtures: users (alice, bob, an admin), authenticated API clients, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import SystemRole
from accounts.services.tokens import issue_access_token

PASSWORD = "S3cret-pass!"


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    # Throttle buckets and cached state must not leak between tests (Redis persists them).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db) -> Callable[..., User]:  # type: ignore[no-untyped-def]
    def _make(user_name: str, *, role: str = SystemRole.USER, password: str = PASSWORD, **fields) -> User:  # type: ignore[no-untyped-def]
        fields.setdefault("email", f"{user_name}@example.com")
        return User.objects.create_user(user_name, password=password, role=role, **fields)

    return _make


@pytest.fixture
def user(make_user) -> User:  # type: ignore[no-untyped-def]
    return make_user("alice")


@pytest.fixture
def other_user(make_user) -> User:  # type: ignore[no-untyped-def]
    return make_user("bob")


@pytest.fixture
def admin_user(make_user) -> User:  # type: ignore[no-untyped-def]
    return make_user("root", role=SystemRole.ADMIN)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    def _client(u: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_access_token(u)}")
        return client

    return _client


@pytest.fixture
def api(client_for, user) -> APIClient:  # type: ignore[no-untyped-def]
    """An API client authenticated as ``user`` (alice)."""
    return client_for(user)


@pytest.fixture
def admin_api(client_for, admin_user) -> APIClient:  # type: ignore[no-untyped-def]
    return client_for(admin_user)


def assert_validation_error(response, *fields: str) -> None:  # type: ignore[no-untyped-def]
    """The 422 envelope of DESIGN.md section 7, naming each of ``fields`` in some ``loc``."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error_code"] == 422
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list) and body["errors"]
    for item in body["errors"]:
        assert set(item) >= {"loc", "msg", "type"}
    locs = {str(part) for item in body["errors"] for part in item["loc"]}
    for field in fields:
        assert field in locs, (field, body["errors"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The project's ASGI application served by uvicorn on a loopback port in a thread."""

    def __init__(self) -> None:
        import uvicorn

        from wegent.asgi import application

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from wegent.server import websocket_options

        # The server's own WebSocket protocol and limits (``wegent.server``), so the tests
        # exercise what production runs.
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            **websocket_options(),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from uvicorn._compat import asyncio_run

        asyncio_run(self._serve(), loop_factory=self.server.config.get_loop_factory())

    async def _serve(self) -> None:
        from chat.providers.common import aclose_http_client

        try:
            await self.server.serve()
        finally:
            # Lifespan is off here (its shutdown hooks end the chat runner for the process):
            # the model SDKs' pooled connections of this server's loop are closed by hand.
            await aclose_http_client()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server_url(transactional_db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = LiveServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()

"""Project-wide fixtures: users (alice, bob, an admin), authenticated API clients, a live server,
and the rows several apps' tests need (Kinds, a team, tasks).

Fixtures live in conftest files; the rows they make come from each app's ``tests/factories.py``
(plain functions a test or a bench script may also call), so no test imports a conftest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import SystemRole
from accounts.services.tokens import issue_access_token
from accounts.tests import factories as account_factories
from kinds.models import Kind
from kinds.tests import factories as kind_factories
from quotas import selectors as quota_selectors
from tasks.tests import factories as task_factories
from wegent.tests.helpers import free_port


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    # Throttle buckets and cached state must not leak between tests (Redis persists them).
    for alias in ("default", "login"):
        caches[alias].clear()
    quota_selectors.rules.clear()  # a rolled-back test's quotas send no delete signal
    yield
    for alias in ("default", "login"):
        caches[alias].clear()
    quota_selectors.rules.clear()


@pytest.fixture
def make_user(db) -> Callable[..., User]:  # type: ignore[no-untyped-def]
    """make_user(user_name, *, role="user", password=PASSWORD, **fields) -> User."""
    return account_factories.make_user


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


class LiveServer:
    """The project's ASGI application served by uvicorn on a loopback port in a thread."""

    def __init__(self) -> None:
        import uvicorn

        from wegent.asgi import application

        self.port = free_port()
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
            # asyncio's loop, not uvloop (what `manage.py serve` picks): with uvloop here, about
            # 5 in 12 full runs of the chat tests failed at random (a model connection's
            # "Bad file descriptor", SQLite "disk I/O error", a stream that never ended: a
            # descriptor closed under its owner, apparently when a closed test loop's handles
            # were collected); 0 in 5 on asyncio. Production runs one loop for the process's
            # life and the benchmarks (bench/) run on uvloop. WEGENT_TEST_LOOP=uvloop reproduces.
            loop=os.environ.get("WEGENT_TEST_LOOP", "asyncio"),
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


# --- rows several apps' tests use -----------------------------------------------------------


@pytest.fixture
def make_kind() -> Callable[..., Kind]:
    """make_kind(actor, document, namespace="default", public=False): a row made by the service."""
    return kind_factories.make_kind


@pytest.fixture
def bot_stack() -> Callable[..., dict[str, Kind]]:
    """bot_stack(actor, prefix="s", namespace="default"): ghost, shell, model, bot and team rows."""
    return kind_factories.bot_stack


@pytest.fixture
def team(user: User) -> Kind:
    """Alice's team (a solo team with one Chat bot)."""
    return kind_factories.bot_stack(user, "t")["team"]


@pytest.fixture
def make_task() -> Callable[..., Any]:
    """make_task(actor, team, prompt="hello", answer="hi"|None, **TurnOptions) -> Turn.

    With ``answer`` the assistant message is completed with that text; with None it stays PENDING.
    """
    return task_factories.make_task

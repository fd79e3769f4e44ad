"""Reused database connections are health-checked only when their socket has something to say
(wegent/db_checks.py): a healthy one costs no round trip, one the server closed is replaced."""

from __future__ import annotations

import select
from typing import Any

import pytest
from django.db import connections

from wegent import db_checks


@pytest.fixture
def conn(monkeypatch) -> Any:  # type: ignore[no-untyped-def]
    """A connection of its own to the test database (the server may end it), with health
    checks on and a count of the full checks it runs in ``conn.checks``."""
    wrapper = connections.create_connection("default")
    if not isinstance(wrapper, db_checks.SocketCheckedConnection):
        pytest.skip("SQLite connections are not health-checked")
    wrapper.ensure_connection()
    monkeypatch.setattr(wrapper, "health_check_enabled", True)
    checks: list[bool] = []
    usable = wrapper.is_usable

    def counting() -> bool:
        checks.append(True)
        return usable()

    monkeypatch.setattr(wrapper, "is_usable", counting)
    monkeypatch.setattr(wrapper, "checks", checks, raising=False)
    yield wrapper
    wrapper.close()


def _request(conn: Any) -> int:
    """A request's first query, as Django runs it; returns what it read."""
    conn.health_check_done = False  # what Django does as each request starts
    with conn.cursor() as cursor:  # the check runs here
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def _end_from_the_server(conn: Any) -> None:
    """The database ends the connection (as a restart or an administrator's kill would)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            if conn.vendor == "postgresql":
                cursor.execute("SELECT pg_terminate_backend(%s)", [conn.connection.info.backend_pid])
            else:
                cursor.execute(f"KILL CONNECTION {int(conn.connection.thread_id())}")
    finally:
        other.close()
    # Wait (on the event, not a timer) until the close has reached this side.
    poller = select.poll()
    poller.register(conn.socket_fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    assert poller.poll(5000), "the server did not close the connection"


@pytest.mark.django_db
def test_a_healthy_reused_connection_is_not_checked(conn):
    for _ in range(5):
        assert _request(conn) == 1
    assert conn.checks == []
    assert db_checks.socket_readable(conn.socket_fileno()) is False


@pytest.mark.django_db
def test_a_connection_the_server_ended_is_checked_and_replaced(conn):
    assert _request(conn) == 1
    first = conn.connection
    _end_from_the_server(conn)
    assert _request(conn) == 1  # not an error: the check found it dead, a new one answered
    assert len(conn.checks) == 1
    assert conn.connection is not first


@pytest.mark.django_db
def test_a_socket_state_that_cannot_be_read_means_a_full_check(conn, monkeypatch):
    def unreadable() -> int:
        raise OSError("closed")

    monkeypatch.setattr(conn, "socket_fileno", unreadable)
    assert _request(conn) == 1
    assert conn.checks == [True]

"""Reused database connections are health-checked at most once a second (wegent/db_checks.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connections

from wegent import db_checks


@pytest.fixture
def conn(monkeypatch) -> Any:  # type: ignore[no-untyped-def]
    """The test thread's connection (the wrapper: ``django.db.connection`` is a proxy), with
    health checks on and a count of the checks it runs in ``conn.checks``."""
    wrapper = connections["default"]
    if not isinstance(wrapper, db_checks.RecentlyCheckedConnection):
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
    return wrapper


def _request(conn: Any) -> None:
    conn.health_check_done = False  # what Django does as each request starts
    conn.close_if_health_check_failed()  # what the request's first query does


@pytest.mark.django_db
def test_a_connection_checked_within_the_second_is_not_checked_again(conn):
    conn._checked_at = time.monotonic() - db_checks.CHECK_EVERY_SECONDS - 1
    _request(conn)
    assert len(conn.checks) == 1  # due: checked
    for _ in range(3):
        _request(conn)
    assert len(conn.checks) == 1  # within the second: not again
    conn._checked_at -= db_checks.CHECK_EVERY_SECONDS
    _request(conn)
    assert len(conn.checks) == 2
    assert conn.connection is not None


@pytest.mark.django_db
def test_a_failed_check_still_replaces_the_connection(conn, monkeypatch):
    monkeypatch.setattr(conn, "is_usable", lambda: False)
    closed: list[bool] = []
    monkeypatch.setattr(conn, "close", lambda: closed.append(True))
    conn._checked_at = float("-inf")
    _request(conn)
    assert closed == [True]  # Django opens a new connection for the next query

"""Checks and helpers every app's tests share (the wire envelope, a free loopback port)."""

from __future__ import annotations

import socket
from typing import Any


def assert_validation_error(response: Any, *fields: str) -> None:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

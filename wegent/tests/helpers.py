"""Checks and helpers every app's tests share (the wire envelope, a free loopback port)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
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


class OwnRedis:
    """A ``redis-server`` of the test's own on a free loopback port (no persistence), which a
    test may stop and start again on the same port; the shared Redis is never touched."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the server and returns once it answers PING."""
        import redis

        assert self.binary is not None, "redis-server is not installed"
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}")
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)  # polling for the port to open, not a timing assertion
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM, and wait until the process is gone (its port is closed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def metric_sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        found = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not found or found.group(1) != name:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if pairs == labels:
            return float(found.group(3))
    return 0.0

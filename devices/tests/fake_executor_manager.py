"""A stand-in for Wegent's executor manager: a real HTTP server on a loopback port that records
what this server pushes to ``/executor-manager/tasks/receive`` and ``/tasks/cancel``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wegent.tests.helpers import free_port


class FakeExecutorManager:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.arrived = threading.Condition()
        manager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with manager.arrived:
                    manager.requests.append((self.path, dict(self.headers), body))
                    manager.arrived.notify_all()
                payload = json.dumps({"code": 0} if manager.status < 300 else {"detail": "busy"}).encode()
                self.send_response(manager.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def to(self, path: str) -> list[tuple[str, dict[str, str], Any]]:
        return [item for item in self.requests if item[0].split("?")[0] == f"/executor-manager{path}"]

    def wait_for(
        self, path: str, count: int = 1, timeout: float = 10.0
    ) -> list[tuple[str, dict[str, str], Any]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.to(path)) >= count, timeout):
                raise TimeoutError(f"{path}: {len(self.to(path))} of {count} requests")
        return self.to(path)

    def __enter__(self) -> FakeExecutorManager:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A fake JSON search engine for tests: a real HTTP server on a loopback port, in a thread.

``GET /search?q=...`` answers ``{"data": {"items": [...]}}`` with three results derived from the
query (nested on purpose, so the adapter's ``results_path`` is exercised); ``/broken`` answers
500, ``/html`` answers 200 with a page that is not JSON. Every request is recorded (path, query
parameters, lower-cased headers).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def results_for(query: str) -> list[dict[str, Any]]:
    return [
        {"title": f"Result {i} about {query}", "link": f"https://example.org/{i}", "body": f"Snippet {i}"}
        for i in range(1, 4)
    ]


@dataclass
class FakeSearchEngine:
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                engine.requests.append(Seen(parts.path, params, headers))
                if parts.path == "/search":
                    body = json.dumps({"data": {"items": results_for(params.get("q", ""))}}).encode()
                    self._answer(200, "application/json", body)
                elif parts.path == "/html":
                    self._answer(200, "text/html", b"<html>not json</html>")
                else:
                    self._answer(500, "application/json", b'{"error": "boom"}')

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeSearchEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def engine_config(base: str, path: str = "/search", **extra: Any) -> dict[str, Any]:
    """The adapter config that reads ``FakeSearchEngine``'s answer shape."""
    return {
        "base_url": f"{base}{path}",
        "display_name": "Fake Search",
        "results_path": "data.items",
        "url_field": "link",
        "snippet_field": "body",
        **extra,
    }

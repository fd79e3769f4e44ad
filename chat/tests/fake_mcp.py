"""A real MCP server for tests, built with the ``mcp`` SDK's server side (``MCPServer``) and
served by uvicorn on a loopback port in a thread: streamable HTTP at ``/mcp`` and SSE at
``/sse`` (+ ``/messages/``) on the same port.

Tools: ``echo`` answers with its arguments, ``fail`` raises (the client sees ``isError``),
``hang`` sleeps until cancelled, ``big`` returns ``size`` characters, ``picture`` returns a
text part and an image part. Every HTTP request's headers are recorded (placeholder tests read
them), and the server notes when a client's session ends (a streamable-HTTP ``DELETE``, or an
SSE stream closing). ``/garbage`` answers 200 with plain text, for "answers garbage" tests.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

# One transparent PNG pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class FakeMCPServer:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    # Sessions that ended: ("streamable-http", session id) or ("sse", path).
    ended: list[tuple[str, str]] = field(default_factory=list)
    hang_started: threading.Event = field(default_factory=threading.Event)
    hang_cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self.mcp = self._build()

    # -- addresses

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def streamable_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.base}/sse"

    # -- observations

    def headers_for(self, path_prefix: str) -> list[dict[str, str]]:
        return [seen.headers for seen in list(self.requests) if seen.path.startswith(path_prefix)]

    def wait_ended(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.ended) >= count, timeout)

    def _note_ended(self, kind: str, what: str) -> None:
        with self._changed:
            self.ended.append((kind, what))
            self._changed.notify_all()

    # -- the MCP server

    def _build(self) -> MCPServer:
        mcp = MCPServer("fake-mcp", instructions="A test server.", log_level="WARNING")
        fake = self

        @mcp.tool(description="Echo the text back, `times` times.")
        def echo(text: str, times: int = 1) -> str:
            return " ".join([f"echo: {text}"] * times)

        @mcp.tool(description="Always fails with the given reason.")
        def fail(reason: str = "broken") -> str:
            # The SDK's ToolError keeps its message for the client (other exceptions are masked).
            raise ToolError(f"fail tool failed: {reason}")

        @mcp.tool(description="Sleeps for a long time (until cancelled).")
        async def hang(seconds: float = 3600.0) -> str:
            fake.hang_started.set()
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                fake.hang_cancelled.set()
                raise
            return "woke up"

        @mcp.tool(description="Returns `size` characters.")
        def big(size: int = 300_000) -> str:
            return ("0123456789" * (size // 10 + 1))[:size]

        @mcp.tool(description="Returns a caption and a picture.", structured_output=False)
        def picture() -> list[Any]:
            return ["a pixel", Image(data=PNG, format="png")]

        return mcp

    def _asgi(self) -> Any:
        streamable = self.mcp.streamable_http_app()
        sse = self.mcp.sse_app()
        fake = self

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                # The streamable-HTTP app's lifespan runs its session manager.
                await streamable(scope, receive, send)
                return
            path = scope.get("path", "")
            if scope["type"] == "http":
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
                query = scope.get("query_string", b"").decode("latin-1")
                fake.requests.append(Seen(scope["method"], path, query, headers))
                if path == "/garbage":
                    await _plain(send, b"this is not an MCP server")
                    return
                if path.startswith(("/sse", "/messages")):
                    await sse(scope, receive, send)
                    if path.startswith("/sse"):
                        fake._note_ended("sse", path)
                    return
                await streamable(scope, receive, send)
                if scope["method"] == "DELETE":
                    fake._note_ended("streamable-http", headers.get("mcp-session-id", ""))
                return
            await streamable(scope, receive, send)

        return app

    # -- lifecycle

    def start(self) -> FakeMCPServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._asgi(), log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="fake-mcp", daemon=True
        )
        self._thread.start()
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the fake MCP server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeMCPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _plain(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Blackhole:
    """A loopback port that accepts connections and never answers (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


if __name__ == "__main__":
    # ``python -m chat.tests.fake_mcp``: the same tools over stdio (for the stdio source test).
    FakeMCPServer().mcp.run("stdio")

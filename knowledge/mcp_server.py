"""The Knowledge MCP server (reference extras §1.11): executor agents list, create and fill
knowledge bases through MCP at ``/mcp/knowledge/sse`` (also under ``/api``), streamable HTTP.

Auth is a task token (``knowledge.services.mcp_actions``): a missing, forged, expired or
orphaned token gets HTTP 401 before any MCP message is read, and every tool call checks the
token of its own request again (``knowledge.mcp_tools``).

Stateless streamable HTTP with JSON answers: no session lives in one process, so any web worker
answers any request (the scaled mode has no sticky sessions). The SDK's session manager runs in
a task started on the first request and stopped by the lifespan's shutdown.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from knowledge.services.mcp_actions import TokenRefused, actor_for_token, bearer
from wegent.realtime.db import run_sync

PATHS = ("/mcp/knowledge", "/api/mcp/knowledge")


class _Endpoint:
    """The MCP server's session manager, started on this process's loop by the first request."""

    def __init__(self) -> None:
        self.manager: Any = None
        self.runner: asyncio.Task[None] | None = None
        self.stop: asyncio.Event | None = None
        self.ready: asyncio.Event | None = None

    async def _run(self) -> None:
        assert self.ready is not None and self.stop is not None
        async with self.manager.run():
            self.ready.set()
            await self.stop.wait()

    async def start(self) -> Any:
        loop = asyncio.get_running_loop()
        if self.runner is None or self.runner.done() or self.runner.get_loop() is not loop:
            # (A server started again in this process, e.g. by tests, runs on a new loop.)
            from mcp.server.transport_security import TransportSecuritySettings

            from knowledge import mcp_tools

            server = mcp_tools.build()
            # Building the app makes the session manager; the routes are ours (``asgi_app``).
            # Host checks are the deployment's (ALLOWED_HOSTS, the proxy), not the SDK's
            # loopback-only default.
            server.streamable_http_app(
                json_response=True,
                stateless_http=True,
                transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            )
            self.manager = server.session_manager
            self.ready, self.stop = asyncio.Event(), asyncio.Event()
            self.runner = asyncio.ensure_future(self._run())
        assert self.ready is not None and self.runner is not None
        if not self.ready.is_set():
            waiter = asyncio.ensure_future(self.ready.wait())
            await asyncio.wait({waiter, self.runner}, return_when=asyncio.FIRST_COMPLETED)
            if not self.ready.is_set():  # the manager failed to start: its error, not a hang
                waiter.cancel()
                self.runner.result()
                raise RuntimeError("the knowledge MCP session manager stopped")
        return self.manager

    async def shutdown(self) -> None:
        runner = self.runner
        if runner is not None and self.stop is not None and runner.get_loop() is asyncio.get_running_loop():
            self.stop.set()
            await asyncio.gather(self.runner, return_exceptions=True)
            self.runner = None


endpoint = _Endpoint()


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/mcp/knowledge/sse`` (and ``/api/...``): the token first, then the SDK's transport."""
    path = scope.get("path", "")
    if path.rstrip("/") not in {f"{prefix}/sse" for prefix in PATHS}:
        await _refuse(send, 404, "Not Found")
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    try:
        await run_sync(actor_for_token, bearer(headers))
    except TokenRefused as exc:
        await _refuse(send, 401, str(exc))
        return
    manager = await endpoint.start()
    await manager.handle_request(scope, receive, send)

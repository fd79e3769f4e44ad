"""HTTP paths an app serves with its own ASGI application instead of Django (a protocol the
app speaks itself, such as the knowledge MCP server at ``/mcp/knowledge``).

A lookup table by path prefix, not a ``Hook``: an app registers its prefixes in its
``AppConfig.ready()``; ``with_mounts`` sends a request whose path is a registered prefix, or
under one, to that app and everything else on to the wrapped application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

_mounts: dict[str, ASGIApp] = {}


def register(prefix: str, app: ASGIApp) -> None:
    _mounts[prefix.rstrip("/")] = app


def target(path: str) -> ASGIApp | None:
    for prefix, app in _mounts.items():
        if path == prefix or path.startswith(prefix + "/"):
            return app
    return None


def with_mounts(inner: ASGIApp) -> ASGIApp:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        mounted = target(scope.get("path", "")) if scope.get("type") == "http" else None
        await (mounted or inner)(scope, receive, send)

    return app

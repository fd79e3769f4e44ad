"""Routes of the Socket.IO transport at ``/socket.io/``: websockets (new sessions, or the upgrade
of a polling session when the query names its ``sid``) and HTTP long-polling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.urls import re_path

from wegent.realtime import polling
from wegent.realtime.consumer import SocketIOConsumer

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_websocket = SocketIOConsumer.as_asgi()


def _websocket_or_upgrade(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
    if b"sid=" in scope.get("query_string", b""):
        return polling.upgrade_app(scope, receive, send)
    return _websocket(scope, receive, send)


websocket_urlpatterns = [
    re_path(r"^socket\.io/?$", _websocket_or_upgrade),
]


def with_polling(django_app: ASGIApp) -> ASGIApp:
    """The HTTP application: ``/socket.io/`` to the long-polling transport, the rest to Django."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("path", "").rstrip("/") == "/socket.io":
            await polling.http_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return app

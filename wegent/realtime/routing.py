"""WebSocket routes: the Socket.IO transport at ``/socket.io/``."""

from __future__ import annotations

from django.urls import re_path

from wegent.realtime.consumer import SocketIOConsumer

websocket_urlpatterns = [
    re_path(r"^socket\.io/?$", SocketIOConsumer.as_asgi()),
]

"""WebSocket routes. The Socket.IO transport registers here when it lands."""

from __future__ import annotations

websocket_urlpatterns: list = []

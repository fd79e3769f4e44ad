"""ASGI entry point: Django for HTTP (but Socket.IO long-polling), Channels for WebSocket
(Socket.IO), and the lifespan."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")

import django

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from wegent.asgi_http import PooledThreadASGIHandler  # noqa: E402

django_asgi_app = PooledThreadASGIHandler(threads=settings.SYNC_THREADS, active=settings.SYNC_ACTIVE)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from wegent import lifespan  # noqa: E402
from wegent.mounts import with_mounts  # noqa: E402
from wegent.realtime.routing import websocket_urlpatterns, with_polling  # noqa: E402
from wegent.telemetry import configure_telemetry  # noqa: E402

configure_telemetry()

application = ProtocolTypeRouter(
    {
        "http": with_mounts(with_polling(django_asgi_app)),
        "websocket": URLRouter(websocket_urlpatterns),
        "lifespan": lifespan.app,
    }
)

"""Serve HTTP and WebSocket with uvicorn; in embedded mode also run Celery worker and beat."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from wegent.embedded_celery import EmbeddedCelery, embedded_mode_active


class Command(BaseCommand):
    help = "Run the ASGI server (uvicorn). Embedded mode adds an in-process Celery worker and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-embedded-celery",
            action="store_true",
            help="Do not start the in-process worker and beat even in embedded mode.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        embedded = None
        if embedded_mode_active() and not options["no_embedded_celery"]:
            embedded = EmbeddedCelery()
            embedded.start()
        config = uvicorn.Config(
            "wegent.asgi:application",
            host=options["host"],
            port=options["port"],
            lifespan="on",
            # Running chat streams get their grace period in the lifespan shutdown.
            timeout_graceful_shutdown=settings.CHAT_SHUTDOWN_GRACE_SECONDS + 15,
            log_config=None,  # Django's LOGGING already formats every logger.
            access_log=False,
            ws_max_size=16 * 1024 * 1024,
            # Engine.IO pings every socket itself; compression of small chat frames costs more
            # memory per connection (about 45 KiB with zlib contexts, measured) than it saves.
            ws_ping_interval=None,
            ws_per_message_deflate=False,
            proxy_headers=True,
        )
        # Import the app now and move everything it built out of the cyclic GC's sight: full
        # collections otherwise rescan every long-lived object and stall requests (p99).
        import gc

        import wegent.asgi  # noqa: F401

        gc.collect()
        gc.freeze()
        # Database work runs in threads beside the event loop. Each query gives up the GIL and
        # must win it back from a busy loop; at the default 5 ms interval a burst of chats took
        # seconds to start under streaming load (measured), at 0.5 ms it does not.
        sys.setswitchinterval(settings.GIL_SWITCH_INTERVAL)
        self.stdout.write(f"Wegent serving on http://{options['host']}:{options['port']}", ending="\n")
        try:
            uvicorn.Server(config).run()
        finally:
            if embedded is not None:
                embedded.stop()

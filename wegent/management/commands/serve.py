"""Serve HTTP and WebSocket (``wegent.server``); in embedded mode also run Celery worker and beat."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from wegent import server
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
        embedded = None
        if embedded_mode_active() and not options["no_embedded_celery"]:
            embedded = EmbeddedCelery()
            embedded.start()
        self.stdout.write(f"Wegent serving on http://{options['host']}:{options['port']}", ending="\n")
        try:
            server.run(options["host"], options["port"])
        finally:
            if embedded is not None:
                embedded.stop()

"""An in-process Celery worker and beat for the embedded mode (no broker, no second process).

The broker is kombu's in-memory transport, which only works inside one process: producers
(web requests) and the consumer (the worker thread) must share it. Beat runs as a thread with
django-celery-beat's database scheduler, so schedules edited in the admin fire here too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import beat
from celery.worker import WorkController
from django.conf import settings
from django.db import connections

from wegent.celery import app

logger = logging.getLogger("wegent.celery")


def _run_then_close_connections(target: Callable[[], object]) -> Callable[[], None]:
    # Django connections are per thread; a finished thread must close its own.
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    return run


@dataclass
class EmbeddedCelery:
    with_beat: bool = True
    worker: WorkController | None = None
    beat_service: beat.Service | None = None
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    def start(self) -> None:
        self.worker = WorkController(
            app=app,
            hostname="embedded@wegent",
            pool_cls="solo",
            concurrency=1,
            loglevel="WARNING",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._spawn("celery-worker", self.worker.start)
        if self.with_beat:
            self.beat_service = beat.Service(
                app, scheduler_cls=settings.CELERY_BEAT_SCHEDULER, max_interval=5
            )
            self._spawn("celery-beat", self.beat_service.start)
        logger.info("embedded Celery worker%s started", " and beat" if self.with_beat else "")

    def _spawn(self, name: str, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=_run_then_close_connections(target), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        if self.beat_service is not None:
            self.beat_service.stop(wait=False)
        if self.worker is not None:
            self.worker.stop(in_sighandler=False)
        for thread in self._threads:
            thread.join(timeout=10)


def embedded_mode_active() -> bool:
    """True when tasks must be run in this process: memory broker and not eager."""
    return settings.CELERY_EMBEDDED and not settings.CELERY_TASK_ALWAYS_EAGER

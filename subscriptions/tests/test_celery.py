"""Real Celery: beat fires subscriptions from their django-celery-beat entries and a worker
runs them, exactly once per fire even with two beats sending every fire twice.

Time is driven by the schedules themselves (an interval of two seconds, a one-time run a few
seconds ahead); the test body only waits for the rows those fires create.

SQLite leg: the embedded mode's in-process worker and beat (memory broker). PostgreSQL + Redis
leg: the same threads on the Redis broker, and real ``celery beat`` / ``celery worker``
processes on the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import beat
from celery.signals import task_prerun
from django.conf import settings
from django.db import connections
from django.utils import timezone

from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.tests.factories import make_subscription
from wegent.celery import app
from wegent.embedded_celery import EmbeddedCelery

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait_for(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def embedded() -> Iterator[Callable[..., EmbeddedCelery]]:
    """Starts the in-process worker and beat (plus ``extra_beats`` more beats) on demand."""
    started: list[EmbeddedCelery] = []
    beats: list[tuple[beat.Service, threading.Thread]] = []

    def _start(extra_beats: int = 0) -> EmbeddedCelery:
        app.conf.task_always_eager = False
        if not settings.CELERY_EMBEDDED:
            app.control.purge()  # messages a stopped run left in the shared Redis
        worker = EmbeddedCelery(with_beat=True)
        worker.start()
        started.append(worker)
        for _ in range(extra_beats):
            service = beat.Service(app, scheduler_cls=settings.CELERY_BEAT_SCHEDULER, max_interval=1)
            thread = threading.Thread(target=_closing(service.start), daemon=True)
            thread.start()
            beats.append((service, thread))
        return worker

    yield _start
    for service, thread in beats:
        service.stop(wait=False)
        thread.join(timeout=10)
    for worker in started:
        worker.stop()
    app.conf.task_always_eager = True
    # Each stopped beat synced its schedule on the way out; its exit-time sync would reach for
    # the test database after it is gone.
    schedulers = [service.scheduler for service, _ in beats]
    schedulers += [w.beat_service.scheduler for w in started if w.beat_service is not None]
    for scheduler in schedulers:
        finalize = getattr(scheduler, "_finalize", None)
        if finalize is not None:
            finalize.cancel()


def _closing(target: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    return run


@pytest.fixture
def fire_messages() -> Iterator[list[int]]:
    """Subscription ids of every ``subscriptions.fire`` message a worker of this process ran."""
    seen: list[int] = []

    def record(sender: Any = None, args: Any = None, **_: Any) -> None:
        if getattr(sender, "name", "") == "subscriptions.fire":
            seen.append(int(args[0]))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)


def _executions(sub: Subscription) -> list[BackgroundExecution]:
    return list(BackgroundExecution.objects.filter(subscription=sub).order_by("created_at"))


def test_two_beats_one_execution_per_interval_fire(embedded, fire_messages, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(
        user, chat_team, name="tick", trigger_type="interval", trigger_config={"value": 2, "unit": "seconds"}
    )
    embedded(extra_beats=1)
    assert _wait_for(lambda: len(_executions(sub)) >= 3), fire_messages
    assert _wait_for(lambda: fire_messages.count(sub.pk) > len(_executions(sub)))
    runs = _executions(sub)
    keys = [run.fire_key for run in runs]
    assert len(set(keys)) == len(keys)
    # Each execution belongs to its own two-second slot of the schedule.
    slots = sorted({key.removeprefix("at:") for key in keys})
    assert len(slots) == len(runs)
    # Both beats sent each fire: more fire messages than executions, yet one run per slot.
    assert fire_messages.count(sub.pk) > len(runs)
    assert _wait_for(lambda: all(r.status == "COMPLETED" for r in _executions(sub)[:2]))


def test_one_time_schedule_fires_once_and_disables(embedded, fire_messages, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    at = timezone.now() + timedelta(seconds=3)
    sub = make_subscription(
        user, chat_team, name="once", trigger_type="one_time", trigger_config={"execute_at": at.isoformat()}
    )
    embedded(extra_beats=1)
    assert _wait_for(
        lambda: BackgroundExecution.objects.filter(subscription=sub, status="COMPLETED").exists()
    )
    sub.refresh_from_db()
    assert not sub.enabled and sub.periodic_task_id is None
    (execution,) = _executions(sub)
    assert execution.created_at >= at and execution.trigger_type == "one_time"


# --- real processes (PostgreSQL + Redis) ------------------------------------------------------------


def _database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{db.get('USER') or ''}{password}@{host}/{db['NAME']}"


class CeleryProcess:
    def __init__(self, *args: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "WEGENT_SECRET_KEY": settings.SECRET_KEY,
            "WEGENT_ENCRYPTION_KEY": settings.ENCRYPTION_KEY,
            "WEGENT_TESTING": "1",
            "WEGENT_CELERY_EAGER": "0",
        }
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        command = [sys.executable, "-m", "celery", "-A", "wegent", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        text = self.output()
        self.log.close()
        return text


@pytest.mark.skipif(
    not settings.REDIS_URL or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="real beat and worker processes need PostgreSQL and Redis",
)
def test_real_beat_processes_and_worker_fire_each_slot_once(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    app.control.purge()
    sub = make_subscription(
        user, chat_team, name="tick", trigger_type="interval", trigger_config={"value": 2, "unit": "seconds"}
    )
    processes = [
        CeleryProcess("worker", "--pool=solo", "--loglevel=INFO", "--without-mingle", "--without-gossip"),
        CeleryProcess("beat", "-S", "django", "--loglevel=INFO", "--max-interval=1"),
        CeleryProcess("beat", "-S", "django", "--loglevel=INFO", "--max-interval=1"),
    ]
    try:
        assert _wait_for(lambda: len(_executions(sub)) >= 3, seconds=90), processes[0].output()[-3000:]
        # Wait for a duplicate message to have reached the worker (both beats send each fire).
        assert _wait_for(lambda: "already has its execution" in processes[0].output(), seconds=30)
    finally:
        logs = [process.stop() for process in processes]
    runs = _executions(sub)
    keys = [run.fire_key for run in runs]
    assert len(set(keys)) == len(keys)
    assert sum(log.count("Sending due task subscription:") for log in logs[1:]) > len(runs)
    assert any(run.status == "COMPLETED" for run in runs), logs[0][-3000:]

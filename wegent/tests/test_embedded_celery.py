"""The in-process worker and beat run real tasks on the configured broker.

On the SQLite leg that is the embedded mode's in-memory broker; on the PostgreSQL and MariaDB
legs it is Redis, the scaled mode's broker, with the same worker and beat code.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from wegent.celery import app
from wegent.embedded_celery import EmbeddedCelery
from wegent.tasks import heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(key: str, seconds: float = 20) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = cache.get(key)
        if value:
            return value
        time.sleep(0.05)
    return None


@pytest.fixture
def start_embedded():
    """Starts the in-process worker and beat on demand; stops them after the test."""
    started: list[EmbeddedCelery] = []

    def _start() -> EmbeddedCelery:
        app.conf.task_always_eager = False
        worker = EmbeddedCelery(with_beat=True)
        worker.start()
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()
    app.conf.task_always_eager = True


def test_worker_runs_a_queued_task(start_embedded):
    start_embedded()
    heartbeat.delay("test:embedded:queued")
    assert _wait_for("test:embedded:queued") is not None


def _schedule(name: str, key: str) -> None:
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name=name, interval=every_second, task="wegent.heartbeat", args=f'["{key}"]')


def test_beat_fires_stored_and_newly_added_schedules(start_embedded):
    # A schedule stored before the server starts fires...
    _schedule("stored heartbeat", "test:embedded:stored")
    start_embedded()
    assert _wait_for("test:embedded:stored", seconds=30) is not None
    # ...and one added while it runs (as an admin would) is picked up without a restart.
    _schedule("added heartbeat", "test:embedded:added")
    assert _wait_for("test:embedded:added", seconds=30) is not None


@pytest.mark.django_db(transaction=True)  # the scheduler closes its connections itself
def test_the_platforms_own_schedules_say_what_they_do():
    from django.conf import settings
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app, lazy=True).setup_schedule()
    rows = {row.name: row for row in PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE)}
    assert set(rows) == set(settings.CELERY_BEAT_SCHEDULE)
    for name, row in rows.items():
        assert row.description == settings.CELERY_BEAT_SCHEDULE[name]["description"] != ""

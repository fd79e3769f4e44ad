"""Schedule benchmark: 10,000 enabled subscriptions, 100 of them due in the same minute.

Everything runs in this process on a fresh database: beat (django-celery-beat's database
scheduler) and a solo worker, on the embedded mode's in-memory broker (the default), or on
Redis with --redis-url (PostgreSQL with --database-url, which is dropped and created afresh).

  * 9,900 idle subscriptions fire at 03:00 UTC (written in bulk as the service writes them:
    one Subscription row and one PeriodicTask on a shared CrontabSchedule each);
  * 100 subscriptions are created through the service with a cron for the next whole minute
    at least --lead seconds away, so all 100 are due at the same tick.

Reports, per fire: latency from the due tick to the execution row's ``created_at`` (p50, p99,
max), the database statements the worker ran per fire, and the statements beat ran over the
whole minute (it reads only its own entries; no subscription table scan). The runs themselves
(one Task per execution, on an executor team so no model is called) are their own messages
after the fires and are not part of the latency.

    .venv/bin/python bench/subscription_schedule.py [--idle 9900] [--due 100] [--lead 20]
        [--database-url postgres://.../wg_bench_subs --redis-url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle", type=int, default=9900)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--lead", type=int, default=20, help="seconds of setup before the due minute")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    return parser.parse_args()


def _environment(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")
    os.environ["WEGENT_DEBUG"] = "1"
    os.environ["WEGENT_LOG_LEVEL"] = "WARNING"
    os.environ["WEGENT_DATA_DIR"] = tempfile.mkdtemp(prefix="wegent-bench-subs-")
    os.environ["WEGENT_CELERY_EAGER"] = "0"
    if args.database_url:
        name = args.database_url.rsplit("/", 1)[1]
        admin = args.database_url.rsplit("/", 1)[0] + "/postgres"
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
        os.environ["DATABASE_URL"] = args.database_url
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url


# --- counting statements per thread ------------------------------------------------------------------

# Statements by (thread, Celery task running in it): "celery-beat" has no task.
STATEMENTS: collections.Counter[tuple[str, str]] = collections.Counter()
_running = threading.local()
# When beat published each fire message.
SENT: list[datetime] = []


def _count_statements() -> None:
    from celery.signals import task_postrun, task_prerun
    from django.db.backends import utils

    for name in ("execute", "executemany"):
        original = getattr(utils.CursorWrapper, name)

        def counted(self, *a, __original=original, **k):  # type: ignore[no-untyped-def]
            STATEMENTS[(threading.current_thread().name, getattr(_running, "task", ""))] += 1
            return __original(self, *a, **k)

        setattr(utils.CursorWrapper, name, counted)

    def started(sender=None, **_):  # type: ignore[no-untyped-def]
        _running.task = sender.name

    def ended(sender=None, **_):  # type: ignore[no-untyped-def]
        _running.task = ""

    task_prerun.connect(started, weak=False)
    task_postrun.connect(ended, weak=False)

    from celery.signals import before_task_publish

    def published(sender=None, **_):  # type: ignore[no-untyped-def]
        if sender == "subscriptions.fire":
            SENT.append(datetime.now(UTC))

    before_task_publish.connect(published, weak=False)


# --- the data ---------------------------------------------------------------------------------------


def _seed(idle: int, due: int, lead: int) -> tuple[datetime, list[int]]:
    from django.core.management import call_command
    from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

    from accounts.models import User
    from kinds.tests.factories import bot_doc, ghost_doc, make_kind, model_doc, shell_doc, team_doc
    from subscriptions.models import Subscription
    from subscriptions.services import schedules
    from subscriptions.services import subscriptions as service

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench-owner", password="bench-Pass-2025!")
    make_kind(owner, ghost_doc("b-ghost"))
    make_kind(owner, shell_doc("b-shell", "ClaudeCode"))
    make_kind(owner, model_doc("b-model"))
    make_kind(owner, bot_doc("b-bot", "b-ghost", "b-shell", "b-model"))
    team = make_kind(owner, team_doc("b-team", ["b-bot"]))

    def body(name: str, expression: str) -> dict:
        return {
            "name": name,
            "display_name": name,
            "trigger_type": "cron",
            "trigger_config": {"expression": expression, "timezone": "UTC"},
            "team_id": team.pk,
            "prompt_template": "Report for {{date}}",
        }

    started = time.monotonic()
    template = service.create(
        actor=owner, data=service.SubscriptionInput.of(body("idle-template", "0 3 * * *"))
    )
    crontab = template.periodic_task.crontab
    batch = 1000
    for start in range(1, idle, batch):
        names = [f"idle-{i:05d}" for i in range(start, min(start + batch, idle))]
        rows = Subscription.objects.bulk_create(
            Subscription(
                owner=owner,
                name=name,
                document={**template.document, "metadata": {**template.document["metadata"], "name": name}},
                enabled=True,
                trigger_type="cron",
                team_id=team.pk,
                scope=template.scope,
                live=True,
            )
            for name in names
        )
        if rows and rows[0].pk is None:  # databases that do not return ids from bulk inserts
            rows = list(Subscription.objects.filter(name__in=names))
        entries = PeriodicTask.objects.bulk_create(
            PeriodicTask(
                name=schedules.entry_name(row.pk),
                task=schedules.FIRE_TASK,
                crontab=crontab,
                args=f"[{row.pk}]",
            )
            for row in rows
        )
        if entries and entries[0].pk is None:
            entries = list(PeriodicTask.objects.filter(name__in=[schedules.entry_name(r.pk) for r in rows]))
        by_name = {entry.name: entry for entry in entries}
        for row in rows:
            row.periodic_task = by_name[schedules.entry_name(row.pk)]
        Subscription.objects.bulk_update(rows, ["periodic_task"])
    PeriodicTasks.update_changed()
    print(f"seeded {idle} idle subscriptions in {time.monotonic() - started:.1f} s", flush=True)

    now = datetime.now(UTC)
    tick = (now + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)
    expression = f"{tick.minute} {tick.hour} * * *"
    due_ids = []
    started = time.monotonic()
    for i in range(due):
        row = service.create(actor=owner, data=service.SubscriptionInput.of(body(f"due-{i:03d}", expression)))
        due_ids.append(row.pk)
    print(
        f"created {due} due subscriptions through the service in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    assert CrontabSchedule.objects.count() == 2
    return tick, due_ids


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>`: where every thread is
    args = _args()
    _environment(args)
    import django

    django.setup()
    _count_statements()
    from django.db import connections

    from subscriptions.models import BackgroundExecution
    from wegent.celery import app
    from wegent.embedded_celery import EmbeddedCelery

    tick, due_ids = _seed(args.idle, args.due, args.lead)
    connections.close_all()
    if args.redis_url:
        app.control.purge()
    print(
        f"due tick: {tick.isoformat()} ({(tick - datetime.now(UTC)).total_seconds():.0f} s away)", flush=True
    )
    celery = EmbeddedCelery(with_beat=True)
    celery.start()
    STATEMENTS.clear()
    deadline = time.monotonic() + (tick - datetime.now(UTC)).total_seconds() + 120
    while time.monotonic() < deadline:
        if BackgroundExecution.objects.filter(subscription_id__in=due_ids).count() >= len(due_ids):
            break
        time.sleep(0.5)
    counts = dict(STATEMENTS)
    _report(tick, due_ids, counts)
    # Stopping the embedded worker can block on the broker connection (Redis): give it a few
    # seconds, then leave (the queue is purged at the next start).
    stopper = threading.Thread(target=celery.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=10)
    shutil.rmtree(os.environ["WEGENT_DATA_DIR"], ignore_errors=True)  # the embedded run's SQLite file
    os._exit(0)


def _report(tick: datetime, due_ids: list[int], counts: dict[tuple[str, str], int]) -> None:
    from subscriptions.models import BackgroundExecution

    rows = list(BackgroundExecution.objects.filter(subscription_id__in=due_ids))
    latencies = [(row.created_at - tick).total_seconds() for row in rows]
    idle_runs = BackgroundExecution.objects.exclude(subscription_id__in=due_ids).count()
    print(f"executions created: {len(rows)} of {len(due_ids)} (idle subscriptions fired: {idle_runs})")
    if latencies:
        print(
            f"fire latency (due tick -> execution created): p50 {statistics.median(latencies):.3f} s, "
            f"p99 {_percentile(latencies, 99):.3f} s, max {max(latencies):.3f} s"
        )
    sent = [(at - tick).total_seconds() for at in SENT]
    if sent:
        print(
            f"beat published the {len(sent)} fires: first +{min(sent):.3f} s, "
            f"p50 +{statistics.median(sent):.3f} s, last +{max(sent):.3f} s after the tick"
        )
    fires = counts.get(("celery-worker", "subscriptions.fire"), 0)
    beat_total = sum(n for (thread, _), n in counts.items() if thread == "celery-beat")
    print(f"database statements per fire (subscriptions.fire): {fires / max(len(rows), 1):.1f}")
    print(f"database statements of beat over the minute: {beat_total}")
    print(
        "statements by (thread, task):",
        {f"{t}/{k or '-'}": n for (t, k), n in sorted(counts.items())},
        flush=True,
    )


if __name__ == "__main__":
    main()

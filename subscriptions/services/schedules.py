"""Each enabled timed subscription is exactly one django-celery-beat ``PeriodicTask``.

``sync`` is called inside the transaction that changes the subscription, so the beat entry
and the subscription commit (or roll back) together: no entry without its subscription, no
enabled timed subscription without its entry. Beat then fires only the due subscription
(``subscriptions.fire`` with its id); nothing scans all subscriptions.

The schedule rows are the beat's own (editable in admin): the fire times and
``nextExecutionTime`` are read from them, so an edit there changes both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

from subscriptions import triggers
from subscriptions.models import CRON, INTERVAL, ONE_TIME, Subscription

FIRE_TASK = "subscriptions.fire"


def entry_name(subscription_id: int) -> str:
    return f"subscription:{subscription_id}"


def wanted(subscription: Subscription) -> bool:
    return subscription.is_active and subscription.enabled and subscription.is_timed


def sync(subscription: Subscription, *, reschedule: bool = False) -> None:
    """Creates, updates or deletes the subscription's beat entry to match it.

    ``reschedule``: the trigger changed (or the subscription was re-enabled), so interval
    slots count from now again. Saves the subscription's schedule fields.
    """
    current = subscription.periodic_task
    if not wanted(subscription):
        subscription.periodic_task = None
        subscription.schedule_anchor = None
        subscription.save(update_fields=["periodic_task", "schedule_anchor", "updated_at"])
        if current is not None:
            _delete_entry(current)
        return
    if current is not None and not reschedule:
        return
    now = timezone.now()
    entry = current or PeriodicTask(name=entry_name(subscription.pk), task=FIRE_TASK)
    old_clocked = entry.clocked if entry.clocked_id else None
    entry.interval = entry.crontab = entry.clocked = None
    entry.solar = None
    entry.one_off = False
    entry.start_time = None
    entry.args = json.dumps([subscription.pk])
    entry.enabled = True
    config = subscription.trigger.get(subscription.trigger_type) or {}
    # Checked when written; a one-time run is re-read as it was (its time may have passed).
    trigger = triggers.parse(subscription.trigger_type, config, now - timedelta(days=36500))
    if subscription.trigger_type == CRON:
        assert isinstance(trigger, triggers.Cron)
        entry.crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=trigger.minute,
            hour=trigger.hour,
            day_of_month=trigger.day_of_month,
            month_of_year=trigger.month_of_year,
            day_of_week=trigger.day_of_week,
            timezone=trigger.timezone,
        )
        entry.last_run_at = None
    elif subscription.trigger_type == INTERVAL:
        assert isinstance(trigger, triggers.Interval)
        entry.interval, _ = IntervalSchedule.objects.get_or_create(
            every=trigger.seconds, period=IntervalSchedule.SECONDS
        )
        # Beat counts an interval from the last run: start it at the anchor.
        entry.last_run_at = now
        subscription.schedule_anchor = now
    elif subscription.trigger_type == ONE_TIME:
        assert isinstance(trigger, triggers.OneTime)
        entry.clocked = ClockedSchedule.objects.create(clocked_time=trigger.at)
        entry.one_off = True
        entry.last_run_at = None
    entry.total_run_count = 0
    entry.save()
    if old_clocked is not None:
        old_clocked.delete()
    subscription.periodic_task = entry
    subscription.save(update_fields=["periodic_task", "schedule_anchor", "updated_at"])


def _delete_entry(entry: PeriodicTask) -> None:
    clocked = entry.clocked if entry.clocked_id else None
    entry.delete()
    if clocked is not None:
        clocked.delete()


# --- reading the schedule --------------------------------------------------------------------------


def fire_time(subscription: Subscription, now: datetime) -> datetime | None:
    """The schedule's fire time that a fire arriving at ``now`` belongs to (None: not timed)."""
    entry = subscription.periodic_task
    if entry is None:
        return None
    if entry.clocked_id:
        return entry.clocked.clocked_time.astimezone(UTC)
    if entry.crontab_id:
        crontab_row = entry.crontab
        cron = crontab_row.schedule
        return triggers.cron_tick_at_or_before(cron, crontab_row.timezone, now)
    if entry.interval_id:
        seconds = int(entry.interval.schedule.run_every.total_seconds())
        anchor = subscription.schedule_anchor or entry.date_changed
        return triggers.interval_slot(anchor, max(seconds, 1), now)
    return None


def next_fire_time(subscription: Subscription, now: datetime | None = None) -> datetime | None:
    """When beat will fire next, read from the beat entry (so admin edits show here)."""
    entry = subscription.periodic_task
    if entry is None or not entry.enabled:
        return None
    now = now or timezone.now()
    if entry.clocked_id:
        return entry.clocked.clocked_time.astimezone(UTC)
    if entry.crontab_id:
        crontab_row = entry.crontab
        local_now = now.astimezone(crontab_row.timezone)
        remaining = crontab_row.schedule.remaining_estimate(local_now)
        # Cron ticks are whole minutes; the estimate is off by the microseconds it took.
        tick = (local_now + remaining + timedelta(seconds=30)).replace(second=0, microsecond=0)
        return tick.astimezone(UTC)
    if entry.interval_id:
        every = entry.interval.schedule.run_every
        last = entry.last_run_at or subscription.schedule_anchor or now
        return (last + every).astimezone(UTC)
    return None

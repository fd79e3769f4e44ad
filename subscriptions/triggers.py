"""Triggers: checking a trigger config, the beat schedule it becomes, and the fire times it
gives (reference extras §2.2, §2.4). Pure functions; no database access.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab

from subscriptions.models import CRON, EVENT, INTERVAL, ONE_TIME

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
MAX_INTERVAL_SECONDS = 366 * 86400
EVENT_TYPES = ("webhook", "git_push")
# A crontab's previous tick is looked for this far back (a yearly cron may find none: the fire
# then counts from the minute it arrived in, still one key per fire).
CRON_LOOKBACK_MINUTES = 2 * 24 * 60


class TriggerError(ValueError):
    """A bad trigger config; ``loc`` is the field path under ``trigger_config``."""

    def __init__(self, message: str, *loc: str) -> None:
        self.loc = loc
        super().__init__(message)


@dataclass(frozen=True)
class Cron:
    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str
    timezone: str

    @property
    def expression(self) -> str:
        return f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week}"

    def schedule(self) -> crontab:
        return crontab(
            minute=self.minute,
            hour=self.hour,
            day_of_month=self.day_of_month,
            month_of_year=self.month_of_year,
            day_of_week=self.day_of_week,
        )


@dataclass(frozen=True)
class Interval:
    seconds: int


@dataclass(frozen=True)
class OneTime:
    at: datetime  # aware, UTC


@dataclass(frozen=True)
class Event:
    event_type: str


Trigger = Cron | Interval | OneTime | Event


def _zone(name: Any, *loc: str) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise TriggerError("Invalid time zone", *loc)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TriggerError(f"Unknown time zone: {name}", *loc) from exc


def parse_cron(config: dict[str, Any]) -> Cron:
    expression = config.get("expression")
    if not isinstance(expression, str) or len(expression) > 200:
        raise TriggerError("Cron expression is required", "expression")
    fields = expression.split()
    if len(fields) != 5:
        raise TriggerError("Cron expression must have 5 fields: minute hour day month weekday", "expression")
    timezone_name = config.get("timezone") or "UTC"
    _zone(timezone_name, "timezone")
    cron = Cron(*fields, timezone=timezone_name)
    try:
        cron.schedule()
    except Exception as exc:  # crontab's parser raises ValueError or its own ParseException
        raise TriggerError(f"Invalid cron expression: {expression}", "expression") from exc
    return cron


def parse_interval(config: dict[str, Any]) -> Interval:
    value, unit = config.get("value"), config.get("unit", "minutes")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TriggerError("Interval value must be a positive integer", "value")
    if unit not in UNITS:
        raise TriggerError(f"Interval unit must be one of {', '.join(UNITS)}", "unit")
    seconds = value * UNITS[unit]
    if seconds > MAX_INTERVAL_SECONDS:
        raise TriggerError("Interval is longer than a year", "value")
    return Interval(seconds=seconds)


def parse_one_time(config: dict[str, Any], now: datetime) -> OneTime:
    raw = config.get("execute_at")
    if not isinstance(raw, str) or len(raw) > 64:
        raise TriggerError("execute_at is required (ISO 8601)", "execute_at")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TriggerError("execute_at is not an ISO 8601 time", "execute_at") from exc
    if at.tzinfo is None:
        zone_name = config.get("timezone")
        at = at.replace(tzinfo=_zone(zone_name, "timezone") if zone_name else UTC)
    at = at.astimezone(UTC)
    if at <= now:
        raise TriggerError("execute_at must be in the future", "execute_at")
    return OneTime(at=at)


def parse_event(config: dict[str, Any]) -> Event:
    event_type = config.get("event_type", "webhook")
    if event_type not in EVENT_TYPES:
        raise TriggerError(f"event_type must be one of {', '.join(EVENT_TYPES)}", "event_type")
    return Event(event_type=event_type)


def parse(trigger_type: str, config: Any, now: datetime) -> Trigger:
    if not isinstance(config, dict):
        raise TriggerError("trigger_config must be an object")
    if trigger_type == CRON:
        return parse_cron(config)
    if trigger_type == INTERVAL:
        return parse_interval(config)
    if trigger_type == ONE_TIME:
        return parse_one_time(config, now)
    if trigger_type == EVENT:
        return parse_event(config)
    raise TriggerError(f"Unknown trigger type: {trigger_type}")


def stored_config(trigger: Trigger, config: dict[str, Any]) -> dict[str, Any]:
    """The normalised config kept in the spec (the reference's ``trigger`` sub-objects)."""
    if isinstance(trigger, Cron):
        return {"expression": trigger.expression, "timezone": trigger.timezone}
    if isinstance(trigger, Interval):
        return {"value": config["value"], "unit": config.get("unit", "minutes")}
    if isinstance(trigger, OneTime):
        return {"execute_at": trigger.at.isoformat()}
    data: dict[str, Any] = {"event_type": trigger.event_type}
    if isinstance(config.get("git_push"), dict):
        data["git_push"] = config["git_push"]
    return data


# --- fire times --------------------------------------------------------------------------------


def cron_tick_at_or_before(cron: crontab, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest minute at or before ``now`` that the crontab fires in (UTC)."""
    minute = now.astimezone(zone).replace(second=0, microsecond=0)
    for _ in range(CRON_LOOKBACK_MINUTES):
        if (
            minute.minute in cron.minute
            and minute.hour in cron.hour
            and minute.day in cron.day_of_month
            and minute.month in cron.month_of_year
            and minute.isoweekday() % 7 in cron.day_of_week
        ):
            return minute.astimezone(UTC)
        minute -= timedelta(minutes=1)
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def interval_slot(anchor: datetime, seconds: int, now: datetime) -> datetime:
    """The start of the interval ``now`` is in, counting from ``anchor``.

    Two real fires are at least ``seconds`` apart, so they never share a slot; duplicates of
    one fire (a retried message, a second beat) arrive within it and do.
    """
    periods = max(int((now - anchor).total_seconds() // seconds), 0)
    return anchor + timedelta(seconds=periods * seconds)


# --- prompt templates --------------------------------------------------------------------------

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
VARIABLES = ("date", "time", "datetime", "timestamp", "subscription_name", "webhook_data")


def unknown_variables(template: str) -> list[str]:
    return sorted({name for name in VARIABLE.findall(template) if name not in VARIABLES})


def render_prompt(template: str, *, now: datetime, display_name: str, webhook_data: Any = None) -> str:
    values = {
        "date": now.strftime("%Y-%m-%d"),
        "time": now.strftime("%H:%M:%S"),
        "datetime": now.strftime("%Y-%m-%d %H:%M:%S"),
        "timestamp": str(int(now.timestamp())),
        "subscription_name": display_name,
        "webhook_data": json.dumps(webhook_data, ensure_ascii=False) if webhook_data is not None else "",
    }
    return VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), template)

"""Quota periods: when the current day or month began and when it resets (``QUOTA_TIME_ZONE``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.QUOTA_TIME_ZONE)


def window(period: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(start, reset) of the ``period`` ("day" or "month") that contains ``now``, both aware."""
    local = now.astimezone(_zone())
    if period == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        reset = (start + dt.timedelta(days=1)).replace(tzinfo=None)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        reset = start.replace(year=year, month=month, tzinfo=None)
    # Midnight in the zone (a DST change moves the offset, not the wall-clock midnight).
    naive_start = start.replace(tzinfo=None)
    return naive_start.replace(tzinfo=_zone()), reset.replace(tzinfo=_zone())

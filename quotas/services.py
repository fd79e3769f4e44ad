"""The quota rules: may a user's conversation get another answer now, and what they have left."""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from quotas import selectors
from quotas.exceptions import QuotaExceeded

_ADVERB = {"day": "daily", "month": "monthly"}


def check(user_id: int, *, now: dt.datetime | None = None) -> None:
    """Raises ``QuotaExceeded`` when any quota that applies to the user is used up (answers
    started or tokens used in the current day or month reach its limit). The refusal names the
    latest reset among the exhausted quotas: before then the user would still be refused."""
    applying = selectors.rules_for(user_id)
    if not applying:
        return
    now = now or timezone.now()
    over = [figure for figure in selectors.figures(user_id, applying, now) if figure.exceeded]
    if not over:
        return
    blocking = max(over, key=lambda figure: figure.reset_at)
    retry_after = max(1, math.ceil((blocking.reset_at - now).total_seconds()))
    reset = blocking.reset_at.astimezone(dt.UTC).isoformat()
    rule = blocking.rule
    what = "group " + rule.group_name if rule.group_name else "your"
    raise QuotaExceeded(
        f"Quota exceeded: {what} {_ADVERB[rule.period]} limit is used up; it resets at {reset}",
        reset_at=blocking.reset_at,
        retry_after=retry_after,
        quota=blocking.as_dict(),
    )


def status(user_id: int, *, now: dt.datetime | None = None) -> list[selectors.Figure]:
    """Every quota that applies to the user, with its current usage."""
    applying = selectors.rules_for(user_id)
    return selectors.figures(user_id, applying, now) if applying else []

from __future__ import annotations

import datetime as dt
from typing import Any

from wegent.errors import TooManyRequests


class QuotaExceeded(TooManyRequests):
    """Over a quota: 429 with ``Retry-After`` (seconds to the reset) and the reset time."""

    def __init__(
        self, detail: str, *, reset_at: dt.datetime, retry_after: int, quota: dict[str, Any]
    ) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.reset_at = reset_at
        self.extra = {
            "error_code": "quota_exceeded",
            "reset_at": reset_at.astimezone(dt.UTC).isoformat(),
            "retry_after": retry_after,
            "quota": quota,
        }

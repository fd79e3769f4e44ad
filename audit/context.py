"""Where the current write comes from (set by the middleware for one HTTP request), so rows
written deeper down (the admin's ``LogEntry`` mirror) can say it."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    ip_address: str
    route: str
    method: str
    request_id: str
    # An admin console request: its ``LogEntry`` rows are mirrored by the middleware afterwards.
    admin: bool = False


current: ContextVar[Origin | None] = ContextVar("audit_origin", default=None)

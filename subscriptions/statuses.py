"""Execution statuses and the one table of allowed transitions (reference extras §2.2)."""

from __future__ import annotations

PENDING, RUNNING, RETRYING = "PENDING", "RUNNING", "RETRYING"
COMPLETED, COMPLETED_SILENT, FAILED, CANCELLED = "COMPLETED", "COMPLETED_SILENT", "FAILED", "CANCELLED"

ALL = (PENDING, RUNNING, RETRYING, COMPLETED, COMPLETED_SILENT, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, COMPLETED_SILENT, FAILED, CANCELLED})

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({COMPLETED, COMPLETED_SILENT, FAILED, RETRYING, CANCELLED}),
    RETRYING: frozenset({RUNNING, FAILED, CANCELLED, COMPLETED_SILENT}),
}


def allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())

"""Tolerant field readers for the ``<Kind>View`` spec readers.

Stored documents were validated when written, but rows written before a schema change (or by
hand) may not match it. A view reads what is there and falls back to a default for anything of
the wrong type, so a reader never raises on a bad row.
"""

from __future__ import annotations

from typing import Any


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def strings(value: Any) -> tuple[str, ...]:
    """The strings of a list (anything else in it, or a non-list, is skipped)."""
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def ref(value: Any) -> dict[str, Any] | None:
    """A ``{name, namespace}`` reference as stored (None when absent or not an object)."""
    return value if isinstance(value, dict) else None

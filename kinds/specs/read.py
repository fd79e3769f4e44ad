"""Tolerant field readers for the ``<Kind>View`` spec readers.

Stored documents were validated when written, but rows written before a schema change (or by
hand) may not match it. A view reads what is there and falls back to a default for anything of
the wrong type, so a reader never raises on a bad row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any, Self

SPEC_KEY, READER = "spec_key", "reader"


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def strings(value: Any) -> tuple[str, ...]:
    """The strings of a list (anything else in it, or a non-list, is skipped)."""
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def ref(value: Any) -> dict[str, Any] | None:
    """A ``{name, namespace}`` reference as stored (None when absent or not an object)."""
    return value if isinstance(value, dict) else None


def reads(key: str, reader: Callable[[Any], Any]) -> dict[str, Any]:
    """A ``SpecView`` field's metadata: its value is ``reader(spec[key])`` (``text``, ``strings``...)."""
    return {SPEC_KEY: key, READER: reader}


class SpecView:
    """Base of the ``<Kind>View`` dataclasses: ``of(spec)`` fills each field declared with
    ``field(default=..., metadata=reads(key, reader))`` from the spec, so a view never raises on
    a malformed spec."""

    @classmethod
    def of(cls, spec: Any) -> Self:
        spec = mapping(spec)
        return cls(**{name: reader(spec.get(key)) for name, key, reader in _readers(cls)})


@cache
def _readers(view: type[SpecView]) -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
    # Once per view class: ``of`` runs for every bot of every chat message.
    return tuple(
        (item.name, item.metadata[SPEC_KEY], item.metadata[READER])
        for item in fields(view)  # type: ignore[arg-type]
        if SPEC_KEY in item.metadata
    )

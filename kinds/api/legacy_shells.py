"""Placeholder: filled in by the legacy_shells work."""

from __future__ import annotations

urlpatterns: list = []

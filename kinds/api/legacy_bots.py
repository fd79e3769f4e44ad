"""Placeholder: filled in by the legacy_bots work."""

from __future__ import annotations

urlpatterns: list = []

"""Placeholder: filled in by the legacy_teams work."""

from __future__ import annotations

urlpatterns: list = []

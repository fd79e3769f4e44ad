"""Placeholder: filled in by the legacy_models work."""

from __future__ import annotations

urlpatterns: list = []

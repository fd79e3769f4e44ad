"""Placeholder: filled in by the groups work."""

from __future__ import annotations

urlpatterns: list = []

"""Placeholder: filled in by the users work."""

from __future__ import annotations

urlpatterns: list = []

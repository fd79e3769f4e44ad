"""Placeholder: filled in by the skills work."""

from __future__ import annotations

urlpatterns: list = []

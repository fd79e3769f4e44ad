"""Placeholder: filled in by the admin_kinds work."""

from __future__ import annotations

urlpatterns: list = []

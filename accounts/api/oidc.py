"""Placeholder: filled in by the oidc work."""

from __future__ import annotations

urlpatterns: list = []

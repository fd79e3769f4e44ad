"""All ``/api`` routes of the knowledge app, one module per area."""

from __future__ import annotations

from knowledge.api import tables

urlpatterns = [
    *tables.urlpatterns,
]

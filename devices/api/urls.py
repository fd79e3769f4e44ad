"""All ``/api`` routes of the devices app, one module per area."""

from __future__ import annotations

from devices.api import devices

urlpatterns = [
    *devices.urlpatterns,
]

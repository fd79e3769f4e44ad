"""All ``/api`` routes of the subscriptions app."""

from __future__ import annotations

from subscriptions.api import follows, internal, market, monitor, subscriptions, webhooks

urlpatterns = [
    *webhooks.urlpatterns,
    *subscriptions.urlpatterns,
    *follows.urlpatterns,
    *market.urlpatterns,
    *monitor.urlpatterns,
    *internal.urlpatterns,
]

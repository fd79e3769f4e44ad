"""All ``/api`` routes of the kinds app, one module per area.

``v1_urlpatterns`` sit under one ``v1/`` include so that other URLs skip them in one step
(Django lists every pattern of a non-matching include while resolving; measured at ~5% of a
Kind list request before this split).
"""

from __future__ import annotations

from kinds.api import admin_kinds, crd, legacy_bots, legacy_models, legacy_shells, legacy_teams, skills

v1_urlpatterns = [
    *skills.urlpatterns,
    *crd.urlpatterns,
]

urlpatterns = [
    *legacy_teams.urlpatterns,
    *legacy_bots.urlpatterns,
    *legacy_models.urlpatterns,
    *legacy_shells.urlpatterns,
    *admin_kinds.urlpatterns,
]

"""All ``/api`` routes of the kinds app, one module per area."""

from __future__ import annotations

from kinds.api import admin_kinds, crd, legacy_bots, legacy_models, legacy_shells, legacy_teams, skills

urlpatterns = [
    *skills.urlpatterns,
    *crd.urlpatterns,
    *legacy_bots.urlpatterns,
    *legacy_teams.urlpatterns,
    *legacy_models.urlpatterns,
    *legacy_shells.urlpatterns,
    *admin_kinds.urlpatterns,
]

"""All ``/api`` routes of the accounts app, one module per area."""

from __future__ import annotations

from accounts.api import admin, api_keys, auth, groups, oidc, users

urlpatterns = [
    *auth.urlpatterns,
    *oidc.urlpatterns,
    *users.urlpatterns,
    *api_keys.urlpatterns,
    *admin.urlpatterns,
    *groups.urlpatterns,
]

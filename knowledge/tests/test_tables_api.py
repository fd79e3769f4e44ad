"""``GET /api/tables``: the table documents (knowledge documents of source type ``table``) the
caller can reach. None exist until tables are built, so the answer is the reference's list
envelope, empty; the web frontend calls it on every page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_tables_is_an_empty_list_envelope(api):
    response = api.get("/api/tables")
    assert response.status_code == 200
    assert response.json() == {"total": 0, "items": []}


def test_tables_needs_credentials(anon_client, client_for, user):
    bad_token = client_for(user)
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for client in (anon_client, bad_token):
        assert client.get("/api/tables").status_code == 401


def test_openapi_describes_tables(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    assert "get" in paths["/api/tables"]

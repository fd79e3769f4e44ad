"""``/api/quota/{path}``: the reference's open-source stub answers ``{}`` to any GET; the web
frontend calls ``/api/quota/claude/quota`` on every page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_quota_answers_an_empty_object(api):
    for path in ("/api/quota/claude/quota", "/api/quota/anything/else/deep"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.json() == {}


def test_quota_needs_credentials(anon_client, client_for, user):
    bad_token = client_for(user)
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for client in (anon_client, bad_token):
        assert client.get("/api/quota/claude/quota").status_code == 401


def test_quota_is_read_only(api):
    assert api.post("/api/quota/claude/quota", {}, format="json").status_code == 405


def test_openapi_describes_quota(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    assert "get" in paths["/api/quota/{path}"]

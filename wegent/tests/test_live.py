"""End to end over a real ASGI server (uvicorn) on a loopback port, with a real HTTP client."""

from __future__ import annotations

import httpx
import pytest

from accounts.tests.factories import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_login_and_authenticated_calls_over_http(live_server_url, make_user):
    make_user("carol")
    with httpx.Client(base_url=live_server_url, timeout=10) as client:
        health = client.get("/api/health")
        assert health.status_code == 200
        assert len(health.headers["x-request-id"]) == 8

        login = client.post("/api/auth/login", json={"user_name": "carol", "password": PASSWORD})
        assert login.status_code == 200
        token = login.json()["access_token"]

        created = client.post(
            "/api/api-keys", json={"name": "live"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201
        key = created.json()["key"]

        listed = client.get("/api/api-keys", headers={"X-API-Key": key})
        assert listed.status_code == 200
        assert [item["name"] for item in listed.json()["items"]] == ["live"]

        assert client.get("/api/api-keys").status_code == 401
        bad = client.post("/api/auth/login", content=b"{oops", headers={"content-type": "application/json"})
        assert bad.status_code == 422
        assert bad.json()["error_code"] == 422

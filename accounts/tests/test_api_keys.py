"""Personal API keys: /api/api-keys and authenticating with them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiKey, User
from accounts.roles import KeyType
from accounts.services import api_keys
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


def test_create_list_toggle_delete(api, user):
    created = api.post("/api/api-keys", {"name": "ci", "description": "for CI"}, format="json")
    assert created.status_code == 201
    body = created.json()
    raw = body["key"]
    assert raw.startswith("wg-") and len(raw) > 40
    assert body["key_prefix"] == raw[:11] + "..."
    assert set(body) == {
        "id",
        "name",
        "key_prefix",
        "description",
        "expires_at",
        "last_used_at",
        "created_at",
        "is_active",
        "key",
    }
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(vars(stored))

    listing = api.get("/api/api-keys").json()
    assert listing["total"] == 1
    assert "key" not in listing["items"][0]
    assert "key_hash" not in listing["items"][0]

    toggled = api.post(f"/api/api-keys/{body['id']}/toggle-status")
    assert toggled.status_code == 200 and toggled.json()["is_active"] is False
    assert api.delete(f"/api/api-keys/{body['id']}").status_code == 204
    assert api.delete(f"/api/api-keys/{body['id']}").json() == {"detail": "API key not found"}


def test_bad_input(api):
    assert_validation_error(api.post("/api/api-keys", {}, format="json"), "name")
    assert_validation_error(api.post("/api/api-keys", {"name": "x" * 101}, format="json"), "name")
    assert_validation_error(
        api.post("/api/api-keys", {"name": "ok", "description": "d" * 501}, format="json"), "description"
    )
    assert api.post("/api/api-keys/abc/toggle-status").status_code == 404


def test_another_users_key_is_404(client_for, user, other_user):
    key, _ = api_keys.create_key(owner=other_user, name="bobs")
    alice = client_for(user)
    assert alice.post(f"/api/api-keys/{key.id}/toggle-status").status_code == 404
    assert alice.delete(f"/api/api-keys/{key.id}").status_code == 404
    assert alice.get("/api/api-keys").json()["total"] == 0
    assert ApiKey.objects.filter(pk=key.id, is_active=True).exists()


def test_unauthenticated(anon_client):
    assert anon_client.get("/api/api-keys").status_code == 401
    assert anon_client.post("/api/api-keys", {"name": "x"}, format="json").status_code == 401


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
def test_personal_key_authenticates_as_owner(anon_client, user, header):
    _, raw = api_keys.create_key(owner=user, name="k")
    value = raw if header == "X-API-Key" else f"Bearer {raw}"
    response = anon_client.get("/api/api-keys", headers={header: value, "wegent-username": "someone-else"})
    assert response.status_code == 200
    assert response.json()["items"][0]["name"] == "k"


def test_invalid_disabled_expired_keys(anon_client, user):
    key, raw = api_keys.create_key(owner=user, name="k")
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY="wg-nope").json() == {"detail": "Invalid API key"}
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).json() == {"detail": "API key has expired"}
    key.expires_at = timezone.now() + timedelta(days=1)
    key.is_active = False
    key.save()
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).status_code == 401
    key.is_active = True
    key.save()
    user.is_active = False
    user.save()
    response = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw)
    assert response.status_code == 401
    assert response.json() == {"detail": "User not found or inactive"}


def test_last_used_at_is_updated(anon_client, user):
    key, raw = api_keys.create_key(owner=user, name="k")
    stale = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at > stale + timedelta(minutes=59)


def test_service_key_impersonates_and_creates_users(anon_client, admin_user, user):
    _, raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    as_alice = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="alice")
    assert as_alice.status_code == 200
    suffix = anon_client.get("/api/api-keys", HTTP_AUTHORIZATION=f"Bearer {raw}#newcomer")
    assert suffix.status_code == 200

    created = User.objects.get(user_name="newcomer")
    assert created.auth_source == "api:svc"
    assert created.email == "newcomer@api.auto"
    assert created.role == "user"

    missing = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw)
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("Username is required for service key authentication")
    bad = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="bad name!")
    assert bad.status_code == 400
    user.is_active = False
    user.save()
    inactive = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="alice")
    assert inactive.status_code == 401
    assert inactive.json() == {"detail": "User 'alice' is inactive"}


# A service key names nobody by itself: without a user it is missing credentials, so every route
# answers 401 (as for a missing token), never 400, and no user is created or touched.
SERVICE_KEY_ROUTES = [
    ("get", "/api/api-keys"),
    ("get", "/api/users/me"),
    ("get", "/api/v1/namespaces/default/ghosts"),
    ("get", "/api/v1/kinds/skills"),
    ("get", "/api/v1/kinds/skills/1/download"),
    ("get", "/api/v1/kinds/skills/public/1/download"),
    ("get", "/api/models/unified"),
    ("get", "/api/tasks"),
    ("post", "/api/v1/namespaces/default/ghosts"),
]


@pytest.mark.parametrize(("method", "route"), SERVICE_KEY_ROUTES)
@pytest.mark.parametrize("how", ["X-API-Key", "Bearer", "empty-suffix", "blank-header"])
def test_service_key_without_a_user_name_is_401_everywhere(anon_client, admin_user, method, route, how):
    _, raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    headers = {
        "X-API-Key": {"X-API-Key": raw},
        "Bearer": {"Authorization": f"Bearer {raw}"},
        "empty-suffix": {"X-API-Key": f"{raw}#"},
        "blank-header": {"X-API-Key": raw, "wegent-username": "  "},
    }[how]
    users_before = set(User.objects.values_list("user_name", flat=True))
    response = getattr(anon_client, method)(route, headers=headers)
    assert response.status_code == 401, response.content
    assert response.json() == {
        "detail": "Username is required for service key authentication (use wegent-username header)"
    }
    assert set(User.objects.values_list("user_name", flat=True)) == users_before


def _shown_last_used(items: list[dict], key_id: int):  # type: ignore[no-untyped-def]
    (item,) = [item for item in items if item["id"] == key_id]
    return parse_datetime(item["last_used_at"])


@pytest.mark.parametrize("stored_age", [timedelta(0), timedelta(seconds=5)])
def test_a_read_after_a_use_shows_it(anon_client, api, admin_api, user, admin_user, stored_age):
    # Writes to the row are coalesced; a listing right after a use must still show that use,
    # whether the stored value is the creation time or an earlier use a few seconds ago.
    personal, raw = api_keys.create_key(owner=user, name="k")
    service, service_raw = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    stored = timezone.now() - stored_age
    ApiKey.objects.filter(pk__in=[personal.pk, service.pk]).update(last_used_at=stored)
    before_use = timezone.now()
    assert anon_client.get("/api/users/me", HTTP_X_API_KEY=raw).status_code == 200
    used = anon_client.get("/api/users/me", HTTP_X_API_KEY=service_raw, HTTP_WEGENT_USERNAME="carol")
    assert used.status_code == 200
    assert _shown_last_used(api.get("/api/api-keys").json()["items"], personal.pk) >= before_use
    admin_personal = admin_api.get("/api/admin/personal-keys").json()["items"]
    assert _shown_last_used(admin_personal, personal.pk) >= before_use
    admin_service = admin_api.get("/api/admin/service-keys").json()["items"]
    assert _shown_last_used(admin_service, service.pk) >= before_use
    toggled = api.post(f"/api/api-keys/{personal.pk}/toggle-status").json()
    assert parse_datetime(toggled["last_used_at"]) >= before_use


def test_last_used_is_written_to_the_row_at_most_once_per_window(
    anon_client, user, django_assert_num_queries
):
    key, raw = api_keys.create_key(owner=user, name="k")
    stale = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).status_code == 200
    key.refresh_from_db()
    written = key.last_used_at
    assert written > stale
    # A second use inside the window does not write the row again (its time lives in the cache).
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == written

"""/api/admin: users, stats, setup flag, admin token, service and personal keys."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from accounts import hooks
from accounts.exceptions import AdminRequired
from accounts.models import ApiKey, SystemConfig, User
from accounts.roles import KeyType, SystemRole
from accounts.services import admin_users, api_keys
from accounts.services.system_config import ADMIN_SETUP_COMPLETED, is_admin_setup_completed
from accounts.tests.factories import PASSWORD
from wegent.errors import BadRequest
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

ADMIN_ONLY = {"detail": "Permission denied. Admin access required."}
USER_FIELDS = {"id", "user_name", "email", "role", "auth_source", "is_active", "created_at", "updated_at"}


def login(client, user_name: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", {"user_name": user_name, "password": password}, format="json")


# Every admin route with a body that passes validation, for the 401/403 sweep.
def _routes(target_id: int, key_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", "/api/admin/users", None),
        ("post", "/api/admin/users", {"user_name": "newbie", "password": "secret1"}),
        ("get", f"/api/admin/users/{target_id}", None),
        ("put", f"/api/admin/users/{target_id}", {"email": "x@example.com"}),
        ("delete", f"/api/admin/users/{target_id}", None),
        ("post", f"/api/admin/users/{target_id}/reset-password", {"new_password": "another1"}),
        ("post", f"/api/admin/users/{target_id}/toggle-status", None),
        ("put", f"/api/admin/users/{target_id}/role", {"role": "admin"}),
        ("get", "/api/admin/stats", None),
        ("post", "/api/admin/setup-complete", None),
        ("post", "/api/admin/generate-admin-token", None),
        ("get", "/api/admin/service-keys", None),
        ("post", "/api/admin/service-keys", {"name": "svc"}),
        ("post", f"/api/admin/service-keys/{key_id}/toggle-status", None),
        ("delete", f"/api/admin/service-keys/{key_id}", None),
        ("get", "/api/admin/personal-keys", None),
        ("post", f"/api/admin/personal-keys/{key_id}/toggle-status", None),
        ("delete", f"/api/admin/personal-keys/{key_id}", None),
    ]


def _call(client, method: str, url: str, body: dict | None):  # type: ignore[no-untyped-def]
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


# --- access ------------------------------------------------------------------------------


def test_every_route_needs_credentials(anon_client, admin_user, other_user):
    key, _ = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    for method, url, body in _routes(other_user.id, key.id):
        response = _call(anon_client, method, url, body)
        assert response.status_code == 401, (method, url, response.content)
        assert response.json() == {"detail": "Not authenticated"}
    assert User.objects.filter(pk=other_user.pk, is_active=True, email="bob@example.com").exists()
    assert ApiKey.objects.filter(pk=key.pk, is_active=True).exists()


def test_every_route_refuses_non_admins(api, admin_user, other_user):
    key, _ = api_keys.create_key(owner=other_user, name="bobs")
    for method, url, body in _routes(other_user.id, key.id):
        response = _call(api, method, url, body)
        assert response.status_code == 403, (method, url, response.content)
        assert response.json() == ADMIN_ONLY
    assert not User.objects.filter(user_name="newbie").exists()
    assert User.objects.filter(pk=other_user.pk, is_active=True, role=SystemRole.USER).exists()
    assert ApiKey.objects.filter(pk=key.pk, is_active=True).count() == 1
    assert not ApiKey.objects.filter(key_type=KeyType.SERVICE).exists()
    assert not SystemConfig.objects.filter(config_key=ADMIN_SETUP_COMPLETED).exists()


def test_admin_api_key_works_on_admin_routes(anon_client, admin_user, user):
    _, raw = api_keys.create_key(owner=admin_user, name="mine")
    assert anon_client.get("/api/admin/stats", HTTP_X_API_KEY=raw).status_code == 200
    _, user_raw = api_keys.create_key(owner=user, name="alices")
    assert anon_client.get("/api/admin/stats", HTTP_X_API_KEY=user_raw).json() == ADMIN_ONLY


def test_demoted_admin_loses_access(client_for, admin_user, make_user):
    other_admin = make_user("second", role=SystemRole.ADMIN)
    client = client_for(other_admin)
    assert client.get("/api/admin/stats").status_code == 200
    admin_users.set_role(actor=admin_user, user_id=other_admin.id, role=SystemRole.USER)
    assert client.get("/api/admin/stats").json() == ADMIN_ONLY


# --- users: reads ------------------------------------------------------------------------


def test_list_users_shape_and_default_filter(admin_api, admin_user, user, other_user):
    other_user.is_active = False
    other_user.save()
    body = admin_api.get("/api/admin/users").json()
    assert body["total"] == 2
    assert [item["user_name"] for item in body["items"]] == ["root", "alice"]
    assert set(body["items"][1]) == USER_FIELDS
    assert body["items"][1]["email"] == "alice@example.com"
    assert body["items"][1]["role"] == "user"
    assert body["items"][1]["auth_source"] == "password"
    assert User.objects.get(pk=user.pk).password not in str(body)

    everyone = admin_api.get("/api/admin/users", {"include_inactive": "true"}).json()
    assert everyone["total"] == 3
    assert {item["user_name"]: item["is_active"] for item in everyone["items"]}["bob"] is False


def test_list_users_search_and_pagination(admin_api, admin_user, make_user):
    for index in range(25):
        make_user(f"member{index:02d}", email=f"m{index}@corp.example")
    make_user("outsider", email="Someone@MEMBER.example")

    first = admin_api.get("/api/admin/users").json()
    assert first["total"] == 27
    assert len(first["items"]) == 20
    second = admin_api.get("/api/admin/users", {"page": 2}).json()
    assert second["total"] == 27
    assert len(second["items"]) == 7
    assert {item["id"] for item in first["items"]}.isdisjoint(item["id"] for item in second["items"])

    found = admin_api.get("/api/admin/users", {"search": "MEMBER", "limit": 100}).json()
    # Case-insensitive on user_name and on email.
    assert found["total"] == 26
    assert "outsider" in {item["user_name"] for item in found["items"]}
    by_email = admin_api.get("/api/admin/users", {"search": "corp.EXAMPLE", "limit": 5, "page": 6}).json()
    assert by_email["total"] == 25
    assert len(by_email["items"]) == 0
    assert admin_api.get("/api/admin/users", {"search": "nobody-like-this"}).json() == {
        "total": 0,
        "items": [],
    }


def test_list_users_bad_query(admin_api):
    assert_validation_error(admin_api.get("/api/admin/users", {"page": 0}), "page")
    assert_validation_error(admin_api.get("/api/admin/users", {"limit": 101}), "limit")
    assert_validation_error(admin_api.get("/api/admin/users", {"limit": "many"}), "limit")
    assert_validation_error(
        admin_api.get("/api/admin/users", {"include_inactive": "perhaps"}), "include_inactive"
    )


def test_get_user(admin_api, user):
    body = admin_api.get(f"/api/admin/users/{user.id}").json()
    assert body["id"] == user.id
    assert body["user_name"] == "alice"
    assert set(body) == USER_FIELDS
    missing = admin_api.get("/api/admin/users/999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "User with id 999999 not found"}
    assert admin_api.get("/api/admin/users/abc").status_code == 404


# --- users: create -----------------------------------------------------------------------


def test_create_password_user_runs_hooks_and_can_log_in(admin_api, anon_client):
    created_for: list[str] = []
    with hooks.on_user_created.registered(lambda u: created_for.append(u.user_name)):
        response = admin_api.post(
            "/api/admin/users",
            {"user_name": "carol", "password": "carol-pass", "email": "carol@example.com"},
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["user_name"] == "carol"
    assert body["role"] == "user"
    assert body["auth_source"] == "password"
    assert body["is_active"] is True
    assert created_for == ["carol"]
    stored = User.objects.get(user_name="carol")
    assert stored.email == "carol@example.com"
    assert stored.check_password("carol-pass")
    assert login(anon_client, "carol", "carol-pass").status_code == 200


def test_create_admin_and_oidc_users(admin_api, client_for):
    made_admin = admin_api.post(
        "/api/admin/users", {"user_name": "boss", "password": "boss-pass", "role": "admin"}, format="json"
    )
    assert made_admin.status_code == 201
    assert made_admin.json()["role"] == "admin"
    assert client_for(User.objects.get(user_name="boss")).get("/api/admin/stats").status_code == 200

    oidc = admin_api.post(
        "/api/admin/users", {"user_name": "sso", "auth_source": "oidc", "email": ""}, format="json"
    )
    assert oidc.status_code == 201, oidc.content
    assert oidc.json()["auth_source"] == "oidc"
    assert oidc.json()["email"] is None
    assert User.objects.get(user_name="sso").email is None


def test_create_user_bad_input(admin_api, user):
    cases = [
        ({}, "user_name"),
        ({"user_name": "x", "password": "secret1"}, "user_name"),
        ({"user_name": "y" * 51, "password": "secret1"}, "user_name"),
        ({"user_name": "dave", "password": "short"}, "password"),
        ({"user_name": "dave", "password": "secret1", "email": "not-an-email"}, "email"),
        ({"user_name": "dave", "password": "secret1", "role": "superuser"}, "role"),
        ({"user_name": "dave", "password": "secret1", "auth_source": "api:x"}, "auth_source"),
        ({"user_name": ["dave"], "password": "secret1"}, "user_name"),
    ]
    for body, field in cases:
        assert_validation_error(admin_api.post("/api/admin/users", body, format="json"), field)
    malformed = admin_api.post("/api/admin/users", "{not json", content_type="application/json")
    assert malformed.status_code == 422
    as_list = admin_api.post("/api/admin/users", [1, 2], format="json")
    assert as_list.status_code == 422

    no_password = admin_api.post("/api/admin/users", {"user_name": "dave"}, format="json")
    assert no_password.status_code == 400
    assert no_password.json() == {"detail": "Password is required for password authentication"}

    duplicate = admin_api.post(
        "/api/admin/users", {"user_name": "alice", "password": "secret1"}, format="json"
    )
    assert duplicate.status_code == 400
    assert duplicate.json() == {"detail": "User with this username already exists"}
    assert User.objects.filter(user_name="dave").count() == 0
    assert User.objects.count() == 2


# --- users: update -----------------------------------------------------------------------


def test_update_user_fields(admin_api, anon_client, user):
    response = admin_api.put(
        f"/api/admin/users/{user.id}",
        {"user_name": "alicia", "email": "alicia@example.com", "role": "admin", "password": "fresh-pass"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_name"] == "alicia"
    assert body["email"] == "alicia@example.com"
    assert body["role"] == "admin"
    user.refresh_from_db()
    assert (user.user_name, user.role) == ("alicia", "admin")
    assert login(anon_client, "alicia", "fresh-pass").status_code == 200
    assert login(anon_client, "alicia", PASSWORD).status_code == 400

    # Absent and null fields stay as they are; an explicit empty email clears it.
    unchanged = admin_api.put(f"/api/admin/users/{user.id}", {"role": None, "is_active": None}, format="json")
    assert unchanged.json()["role"] == "admin"
    assert unchanged.json()["is_active"] is True
    cleared = admin_api.put(f"/api/admin/users/{user.id}", {"email": ""}, format="json")
    assert cleared.json()["email"] is None
    user.refresh_from_db()
    assert user.email is None


def test_update_user_deactivate_then_login_fails(admin_api, anon_client, user):
    response = admin_api.put(f"/api/admin/users/{user.id}", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert login(anon_client, "alice", PASSWORD).json() == {"detail": "User not activated"}


def test_update_user_bad_input(admin_api, user, other_user):
    url = f"/api/admin/users/{user.id}"
    assert_validation_error(admin_api.put(url, {"user_name": "a"}, format="json"), "user_name")
    assert_validation_error(admin_api.put(url, {"email": "nope"}, format="json"), "email")
    assert_validation_error(admin_api.put(url, {"role": "root"}, format="json"), "role")
    assert_validation_error(admin_api.put(url, {"is_active": "sometimes"}, format="json"), "is_active")
    assert_validation_error(admin_api.put(url, {"password": "12345"}, format="json"), "password")
    taken = admin_api.put(url, {"user_name": "bob"}, format="json")
    assert taken.status_code == 400
    assert taken.json() == {"detail": "User with this username already exists"}
    missing = admin_api.put("/api/admin/users/999999", {"email": "a@b.example"}, format="json")
    assert missing.status_code == 404
    user.refresh_from_db()
    assert (user.user_name, user.email, user.role) == ("alice", "alice@example.com", "user")


def test_update_password_refused_for_oidc_users(admin_api, make_user):
    sso = make_user("sso", auth_source="oidc")
    response = admin_api.put(
        f"/api/admin/users/{sso.id}", {"email": "new@example.com", "password": "secret1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot reset password for OIDC-authenticated users"}
    sso.refresh_from_db()
    assert sso.email == "sso@example.com"  # nothing half-written


def test_update_guards(admin_api, admin_user, make_user):
    url = f"/api/admin/users/{admin_user.id}"
    self_off = admin_api.put(url, {"is_active": False}, format="json")
    assert self_off.status_code == 400
    assert self_off.json() == {"detail": "Cannot deactivate your own account"}
    demote = admin_api.put(url, {"role": "user"}, format="json")
    assert demote.status_code == 400
    assert demote.json() == {"detail": "Cannot demote yourself when you are the only admin"}
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.role == "admin"

    # With a second active admin, demoting yourself is allowed.
    make_user("second", role=SystemRole.ADMIN)
    assert admin_api.put(url, {"role": "user"}, format="json").json()["role"] == "user"


def test_inactive_admins_do_not_count(admin_api, admin_user, make_user):
    make_user("dormant", role=SystemRole.ADMIN, is_active=False)
    response = admin_api.put(f"/api/admin/users/{admin_user.id}/role", {"role": "user"}, format="json")
    assert response.status_code == 400
    assert User.objects.get(pk=admin_user.pk).role == "admin"


# --- users: delete -----------------------------------------------------------------------


def test_delete_user(admin_api, user):
    key, _ = api_keys.create_key(owner=user, name="k")
    assert admin_api.delete(f"/api/admin/users/{user.id}").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    again = admin_api.delete(f"/api/admin/users/{user.id}")
    assert again.status_code == 404
    assert again.json() == {"detail": f"User with id {user.id} not found"}


def test_delete_guards(admin_api, admin_user):
    response = admin_api.delete(f"/api/admin/users/{admin_user.id}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot delete your own account"}
    assert User.objects.filter(pk=admin_user.pk).exists()


def test_deleting_an_admin_keeps_their_service_keys(admin_api, admin_user, make_user, anon_client):
    other_admin = make_user("second", role=SystemRole.ADMIN)
    key, raw = api_keys.create_key(owner=other_admin, name="ci", key_type=KeyType.SERVICE)
    assert admin_api.delete(f"/api/admin/users/{other_admin.id}").status_code == 204
    key.refresh_from_db()
    assert key.user_id == admin_user.id
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=f"{raw}#alice").status_code == 200


def test_last_admin_rules_in_the_service(admin_user, user, make_user):
    # Through the API the caller is always another active admin, so these paths need a direct call.
    User.objects.filter(pk=admin_user.pk).update(is_active=False)
    last = make_user("last", role=SystemRole.ADMIN)
    with pytest.raises(BadRequest, match="Cannot demote the last active admin"):
        admin_users.check_change(actor=user, target=last, role=SystemRole.USER, is_active=None)
    with pytest.raises(BadRequest, match="Cannot deactivate the last active admin"):
        admin_users.check_change(actor=user, target=last, role=None, is_active=False)
    with pytest.raises(BadRequest, match="Cannot delete the last active admin"):
        admin_users.check_delete(actor=user, target=last)
    admin_users.check_change(actor=user, target=last, role=SystemRole.ADMIN, is_active=True)


def test_services_refuse_non_admin_actors(user, other_user):
    with pytest.raises(AdminRequired):
        admin_users.toggle_status(actor=user, user_id=other_user.id)
    with pytest.raises(AdminRequired):
        admin_users.delete_user(actor=user, user_id=other_user.id)
    assert User.objects.filter(pk=other_user.pk, is_active=True).exists()


# --- users: password, status, role -------------------------------------------------------


def test_reset_password_then_login(admin_api, anon_client, user):
    response = admin_api.post(
        f"/api/admin/users/{user.id}/reset-password", {"new_password": "brand-new"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert login(anon_client, "alice", "brand-new").status_code == 200
    assert login(anon_client, "alice", PASSWORD).status_code == 400


@pytest.mark.parametrize("auth_source", ["unknown", "api:ci"])
def test_reset_password_for_legacy_and_api_users(admin_api, anon_client, make_user, auth_source):
    target = make_user("legacy", auth_source=auth_source)
    response = admin_api.post(
        f"/api/admin/users/{target.id}/reset-password", {"new_password": "legacy-pass"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["auth_source"] == ("password" if auth_source == "unknown" else auth_source)
    assert login(anon_client, "legacy", "legacy-pass").status_code == 200


def test_reset_password_refusals(admin_api, make_user, user):
    sso = make_user("sso", auth_source="oidc")
    before = User.objects.get(pk=sso.pk).password
    refused = admin_api.post(
        f"/api/admin/users/{sso.id}/reset-password", {"new_password": "secret1"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Cannot reset password for OIDC-authenticated users"}
    assert User.objects.get(pk=sso.pk).password == before
    url = f"/api/admin/users/{user.id}/reset-password"
    assert_validation_error(admin_api.post(url, {"new_password": "12345"}, format="json"), "new_password")
    assert_validation_error(admin_api.post(url, {}, format="json"), "new_password")
    missing = admin_api.post(
        "/api/admin/users/999999/reset-password", {"new_password": "secret1"}, format="json"
    )
    assert missing.status_code == 404


def test_toggle_status(admin_api, anon_client, user):
    off = admin_api.post(f"/api/admin/users/{user.id}/toggle-status")
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert login(anon_client, "alice", PASSWORD).json() == {"detail": "User not activated"}
    assert admin_api.get("/api/admin/users").json()["total"] == 1

    on = admin_api.post(f"/api/admin/users/{user.id}/toggle-status")
    assert on.json()["is_active"] is True
    assert login(anon_client, "alice", PASSWORD).status_code == 200
    assert admin_api.post("/api/admin/users/999999/toggle-status").status_code == 404


def test_toggled_off_user_tokens_stop_working(admin_api, client_for, user):
    alice = client_for(user)
    assert alice.get("/api/api-keys").status_code == 200
    admin_api.post(f"/api/admin/users/{user.id}/toggle-status")
    assert alice.get("/api/api-keys").status_code == 401


def test_toggle_self_is_refused(admin_api, admin_user):
    response = admin_api.post(f"/api/admin/users/{admin_user.id}/toggle-status")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot toggle your own account status"}
    assert User.objects.get(pk=admin_user.pk).is_active is True


def test_set_role(admin_api, client_for, user, admin_user):
    promoted = admin_api.put(f"/api/admin/users/{user.id}/role", {"role": "admin"}, format="json")
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert client_for(user).get("/api/admin/stats").status_code == 200
    # Now there are two admins: the caller may step down.
    stepped_down = admin_api.put(f"/api/admin/users/{admin_user.id}/role", {"role": "user"}, format="json")
    assert stepped_down.json()["role"] == "user"
    assert User.objects.get(pk=admin_user.pk).role == "user"


def test_set_role_guard_and_bad_input(admin_api, admin_user, user):
    demote = admin_api.put(f"/api/admin/users/{admin_user.id}/role", {"role": "user"}, format="json")
    assert demote.status_code == 400
    assert demote.json() == {"detail": "Cannot demote yourself when you are the only admin"}
    assert User.objects.get(pk=admin_user.pk).role == "admin"
    url = f"/api/admin/users/{user.id}/role"
    assert_validation_error(admin_api.put(url, {"role": "owner"}, format="json"), "role")
    assert_validation_error(admin_api.put(url, {}, format="json"), "role")
    missing = admin_api.put("/api/admin/users/999999/role", {"role": "user"}, format="json")
    assert missing.status_code == 404


# --- stats, setup, token -----------------------------------------------------------------


def test_stats_match_the_database(admin_api, admin_user, user, make_user):
    make_user("inactive", is_active=False)
    make_user("dormant-admin", role=SystemRole.ADMIN, is_active=False)
    make_user("second-admin", role=SystemRole.ADMIN)
    body = admin_api.get("/api/admin/stats").json()
    assert body == {
        "total_users": User.objects.count(),
        "active_users": User.objects.filter(is_active=True).count(),
        "admin_count": User.objects.filter(role="admin", is_active=True).count(),
        "total_tasks": 0,
        "total_public_models": 0,
    }
    assert (body["total_users"], body["active_users"], body["admin_count"]) == (5, 3, 2)


def test_stats_hook(admin_api):
    with hooks.admin_stats.registered(lambda: {"total_tasks": 42, "not_a_stat": 7}):
        body = admin_api.get("/api/admin/stats").json()
    assert body["total_tasks"] == 42 and "not_a_stat" not in body
    assert body["total_public_models"] == 0
    assert admin_api.get("/api/admin/stats").json()["total_tasks"] == 0


def test_setup_complete(admin_api, admin_user):
    assert is_admin_setup_completed() is False
    response = admin_api.post("/api/admin/setup-complete")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["message"], str) and body["message"]
    assert is_admin_setup_completed() is True
    row = SystemConfig.objects.get(config_key=ADMIN_SETUP_COMPLETED)
    assert row.updated_by_id == admin_user.id
    assert admin_api.post("/api/admin/setup-complete").status_code == 200
    assert SystemConfig.objects.filter(config_key=ADMIN_SETUP_COMPLETED).count() == 1


def test_generate_admin_token(admin_api, anon_client, admin_user):
    response = admin_api.post("/api/admin/generate-admin-token")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "root"
    assert claims["user_id"] == admin_user.id
    assert isinstance(claims["exp"], int)
    assert claims["exp"] > (timezone.now() + timedelta(days=365 * 499)).timestamp()
    authed = anon_client.get("/api/admin/stats", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert authed.status_code == 200
    assert authed.json()["admin_count"] == 1


# --- service keys ------------------------------------------------------------------------


def test_service_keys_lifecycle(admin_api, admin_user, anon_client, user):
    created = admin_api.post(
        "/api/admin/service-keys", {"name": "ci", "description": "pipeline"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    raw = body["key"]
    assert raw.startswith("wg-")
    assert body["created_by"] == "root"
    assert body["name"] == "ci" and body["description"] == "pipeline"
    assert "key_hash" not in body
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_type == KeyType.SERVICE
    assert stored.user_id == admin_user.id
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    # The key impersonates users, as a service key does.
    as_alice = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="alice")
    assert as_alice.status_code == 200

    listing = admin_api.get("/api/admin/service-keys").json()
    assert listing["total"] == 1
    item = listing["items"][0]
    assert item["created_by"] == "root"
    assert "key" not in item and "key_hash" not in item
    assert stored.key_hash not in str(listing)

    off = admin_api.post(f"/api/admin/service-keys/{stored.id}/toggle-status")
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert off.json()["created_by"] == "root"
    refused = anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw, HTTP_WEGENT_USERNAME="alice")
    assert refused.status_code == 401

    assert admin_api.delete(f"/api/admin/service-keys/{stored.id}").status_code == 204
    assert not ApiKey.objects.filter(pk=stored.id).exists()
    assert admin_api.get("/api/admin/service-keys").json() == {"items": [], "total": 0}


def test_service_key_not_found_and_bad_input(admin_api, user):
    personal, _ = api_keys.create_key(owner=user, name="personal")
    for response in (
        admin_api.post(f"/api/admin/service-keys/{personal.id}/toggle-status"),
        admin_api.delete(f"/api/admin/service-keys/{personal.id}"),
        admin_api.post("/api/admin/service-keys/999999/toggle-status"),
        admin_api.delete("/api/admin/service-keys/999999"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Service key not found"}
    assert ApiKey.objects.filter(pk=personal.id, is_active=True).exists()
    assert_validation_error(admin_api.post("/api/admin/service-keys", {}, format="json"), "name")
    assert_validation_error(
        admin_api.post("/api/admin/service-keys", {"name": "n" * 101}, format="json"), "name"
    )
    assert_validation_error(
        admin_api.post("/api/admin/service-keys", {"name": "ok", "description": "d" * 501}, format="json"),
        "description",
    )
    assert not ApiKey.objects.filter(key_type=KeyType.SERVICE).exists()


# --- personal keys -----------------------------------------------------------------------


def test_personal_keys_listing(admin_api, admin_user, user, other_user):
    alice_key, _ = api_keys.create_key(owner=user, name="laptop")
    bob_key, _ = api_keys.create_key(owner=other_user, name="ci-runner")
    api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)

    body = admin_api.get("/api/admin/personal-keys").json()
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [bob_key.id, alice_key.id]  # newest first
    item = body["items"][1]
    assert item["user_id"] == user.id
    assert item["user_name"] == "alice"
    assert item["name"] == "laptop"
    assert "key_hash" not in item and "key" not in item
    assert alice_key.key_hash not in str(body)

    by_owner = admin_api.get("/api/admin/personal-keys", {"search": "ALI"}).json()
    assert [item["id"] for item in by_owner["items"]] == [alice_key.id]
    by_name = admin_api.get("/api/admin/personal-keys", {"search": "runner"}).json()
    assert [item["id"] for item in by_name["items"]] == [bob_key.id]


def test_personal_keys_pagination(admin_api, user):
    for index in range(55):
        api_keys.create_key(owner=user, name=f"k{index}")
    first = admin_api.get("/api/admin/personal-keys").json()
    assert first["total"] == 55
    assert len(first["items"]) == 50
    second = admin_api.get("/api/admin/personal-keys", {"page": 2}).json()
    assert second["total"] == 55
    assert len(second["items"]) == 5
    assert_validation_error(admin_api.get("/api/admin/personal-keys", {"limit": 0}), "limit")


def test_personal_key_toggle_and_delete(admin_api, anon_client, user, admin_user):
    key, raw = api_keys.create_key(owner=user, name="laptop")
    off = admin_api.post(f"/api/admin/personal-keys/{key.id}/toggle-status")
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert off.json()["user_name"] == "alice"
    assert anon_client.get("/api/api-keys", HTTP_X_API_KEY=raw).status_code == 401
    on = admin_api.post(f"/api/admin/personal-keys/{key.id}/toggle-status")
    assert on.json()["is_active"] is True
    assert admin_api.delete(f"/api/admin/personal-keys/{key.id}").status_code == 204
    assert not ApiKey.objects.filter(pk=key.id).exists()

    service, _ = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    for response in (
        admin_api.post(f"/api/admin/personal-keys/{service.id}/toggle-status"),
        admin_api.delete(f"/api/admin/personal-keys/{service.id}"),
        admin_api.delete(f"/api/admin/personal-keys/{key.id}"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Personal key not found"}
    assert ApiKey.objects.filter(pk=service.id, is_active=True).exists()


def test_no_route_returns_a_key_hash(admin_api, admin_user, user):
    key, _ = api_keys.create_key(owner=user, name="laptop")
    service, _ = api_keys.create_key(owner=admin_user, name="svc", key_type=KeyType.SERVICE)
    texts = [
        admin_api.get("/api/admin/personal-keys").content.decode(),
        admin_api.get("/api/admin/service-keys").content.decode(),
        admin_api.post(f"/api/admin/personal-keys/{key.id}/toggle-status").content.decode(),
        admin_api.post(f"/api/admin/service-keys/{service.id}/toggle-status").content.decode(),
    ]
    for text in texts:
        assert key.key_hash not in text
        assert service.key_hash not in text
        assert "key_hash" not in text

"""Login (JSON and OAuth2 form), JWT validation and the 401 paths."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings

from accounts.services.tokens import issue_access_token
from accounts.tests.factories import PASSWORD
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


def _payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_login_returns_reference_jwt(anon_client, user):
    response = anon_client.post(
        "/api/auth/login", {"user_name": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    token = body["access_token"]
    assert token.count(".") == 2
    payload = _payload(token)
    assert set(payload) == {"sub", "user_id", "exp"}
    assert payload["sub"] == "alice"
    assert payload["user_id"] == user.id
    assert isinstance(payload["exp"], int)
    assert 7 * 86400 - 60 < payload["exp"] - time.time() <= 7 * 86400
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    me = anon_client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code in (200, 404)  # /users/me lands with the users routes


def test_login_wrong_password_and_unknown_user(anon_client, user):
    for name, password in (("alice", "nope"), ("nobody", PASSWORD)):
        response = anon_client.post(
            "/api/auth/login", {"user_name": name, "password": password}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"detail": "Invalid username or password"}


def test_login_inactive_user(anon_client, user):
    user.is_active = False
    user.save()
    response = anon_client.post(
        "/api/auth/login", {"user_name": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "User not activated"}


def test_login_bad_input(anon_client):
    assert_validation_error(
        anon_client.post("/api/auth/login", {"user_name": "x"}, format="json"), "password"
    )
    assert_validation_error(anon_client.post("/api/auth/login", [1, 2], format="json"))
    malformed = anon_client.post("/api/auth/login", "{not json", content_type="application/json")
    assert_validation_error(malformed)
    assert malformed.json()["errors"][0]["type"] == "json_invalid"


def test_oauth2_form_login(anon_client, user):
    response = anon_client.post("/api/auth/oauth2", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert _payload(response.json()["access_token"])["sub"] == "alice"
    bad = anon_client.post("/api/auth/oauth2", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 400
    assert_validation_error(anon_client.post("/api/auth/oauth2", {"username": "alice"}), "password")


def test_login_wrong_passwords_lock_the_name_not_the_address(anon_client, user, settings):
    settings.LOGIN_USER_FAILURES = 3
    codes = [
        anon_client.post(
            "/api/auth/login", {"user_name": "alice", "password": "x"}, format="json"
        ).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]
    # Another user name from the same address is still checked.
    other = anon_client.post("/api/auth/login", {"user_name": "carol", "password": "x"}, format="json")
    assert other.status_code == 400


def test_login_refusal_carries_retry_after(anon_client, user, settings):
    settings.LOGIN_USER_FAILURES = 1
    settings.LOGIN_LOCKOUT_SECONDS = 90
    anon_client.post("/api/auth/login", {"user_name": "alice", "password": "x"}, format="json")
    throttled = anon_client.post("/api/auth/login", {"user_name": "alice", "password": "x"}, format="json")
    assert throttled.status_code == 429
    wait = throttled.headers["Retry-After"]
    assert 0 < int(wait) <= 90
    assert throttled.json() == {
        "detail": f"Too many failed login attempts. Expected available in {wait} seconds."
    }


@pytest.fixture
def protected_url() -> str:
    return "/api/api-keys"


def test_missing_token_is_401(anon_client, protected_url):
    response = anon_client.get(protected_url)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_tampered_and_expired_tokens_are_401(anon_client, user, protected_url):
    token = issue_access_token(user)
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    expired = issue_access_token(user, lifetime=timedelta(seconds=-10))
    forged = jwt.encode(
        {"sub": "alice", "user_id": user.id, "exp": int(time.time()) + 60},
        "another-signing-key-that-is-long-enough-0123",
        algorithm="HS256",
    )
    for bad in (tampered, expired, forged, "garbage", "a.b.c"):
        response = anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {bad}")
        assert response.status_code == 401, bad
        assert response.json() == {"detail": "Could not validate credentials"}


def test_reference_style_token_is_accepted(anon_client, user, protected_url):
    """A token minted the way the reference mints it (no jti/token_type) works here too."""
    token = jwt.encode(
        {"sub": "alice", "user_id": user.id, "exp": int(time.time()) + 600},
        settings.JWT_SECRET_KEY,
        algorithm="HS256",
    )
    assert anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_token_of_deleted_or_renamed_user_is_401(anon_client, make_user, protected_url):
    gone = make_user("gone")
    token = issue_access_token(gone)
    gone.delete()
    assert anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    renamed = make_user("before")
    token = issue_access_token(renamed)
    renamed.user_name = "after"
    renamed.save()
    response = anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    # Someone who takes over the freed name does not inherit the old holder's tokens.
    make_user("before")
    assert anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_token_without_user_id_is_401(anon_client, user, protected_url):
    token = jwt.encode(
        {"sub": "alice", "exp": int(time.time()) + 600}, settings.JWT_SECRET_KEY, algorithm="HS256"
    )
    assert anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_token_of_inactive_user_is_401(anon_client, user, protected_url):
    token = issue_access_token(user)
    user.is_active = False
    user.save()
    response = anon_client.get(protected_url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json() == {"detail": "User not activated"}


def test_every_response_has_request_id(anon_client, user):
    assert len(anon_client.get("/api/health").headers["X-Request-ID"]) == 8
    assert anon_client.get("/api/nope").headers["X-Request-ID"]
    echoed = anon_client.get("/api/health", HTTP_X_REQUEST_ID="trace-123")
    assert echoed.headers["X-Request-ID"] == "trace-123"
    unsafe = anon_client.get("/api/health", HTTP_X_REQUEST_ID="bad id\n")
    assert unsafe.headers["X-Request-ID"] != "bad id\n"


def test_unknown_route_is_json_404(anon_client):
    response = anon_client.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_user_cache_serves_copies_and_forgets_on_save_and_delete(anon_client, user, protected_url, settings):
    """With the per-process token-user cache on, changes to the user still apply at once here."""
    from accounts import user_cache

    settings.AUTH_USER_CACHE_SECONDS = 60
    user_cache.forget_all()
    token = issue_access_token(user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert anon_client.get(protected_url, **auth).status_code == 200
    assert user.pk in user_cache._entries  # cached now
    first = user_cache.get_or_load(user.pk, lambda: None)
    second = user_cache.get_or_load(user.pk, lambda: None)
    assert first is not second and first.pk == second.pk == user.pk
    user.is_active = False
    user.save()
    assert anon_client.get(protected_url, **auth).status_code == 401
    user.is_active = True
    user.save()
    assert anon_client.get(protected_url, **auth).status_code == 200
    user.delete()
    assert anon_client.get(protected_url, **auth).status_code == 401
    user_cache.forget_all()


def test_a_remembered_token_still_expires(anon_client, user):
    from accounts.services import tokens

    token = issue_access_token(user, lifetime=timedelta(seconds=2))
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_client.get("/api/users/me").status_code == 200
    assert token in tokens._verified  # verified once, remembered
    # Refused once its exp has passed, remembered or not (waits for the clock, at most 2 s).
    expires = _payload(token)["exp"]
    while time.time() <= expires:
        time.sleep(0.05)
    assert anon_client.get("/api/users/me").status_code == 401


def test_a_remembered_token_of_a_disabled_user_is_refused(anon_client, user):
    token = issue_access_token(user)
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_client.get("/api/users/me").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert anon_client.get("/api/users/me").status_code == 401

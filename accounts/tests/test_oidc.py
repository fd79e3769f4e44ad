"""OIDC login end to end against a real fake provider over HTTP (accounts/tests/fake_oidc.py)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts import hooks
from accounts.models import User
from accounts.services.auth import user_from_jwt
from accounts.tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDCProvider
from wegent.tests.helpers import assert_validation_error, free_port

pytestmark = pytest.mark.django_db

FRONTEND = "http://frontend.test"
STATE_KEY = "state-secret-for-tests-0123456789abcdef"
LOGIN = "/api/auth/oidc/login"
CALLBACK = "/api/auth/oidc/callback"
CLI_LOGIN = "/api/auth/oidc/cli-login"
CLI_CALLBACK = "/api/auth/oidc/cli-callback"
CLI_POLL = "/api/auth/oidc/cli-poll"


@pytest.fixture(autouse=True)
def _configured_throttle_rates(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # DRF copies the rates onto the throttle class at import; a test elsewhere that overrides
    # them must not leave its tiny limits behind for these routes.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOIDCProvider]:
    fake = FakeOIDCProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def idp(provider, settings) -> FakeOIDCProvider:  # type: ignore[no-untyped-def]
    provider.reset()
    settings.OIDC_ENABLED = True
    settings.OIDC_DISCOVERY_URL = provider.discovery_url
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    settings.OIDC_REDIRECT_URI = ""
    settings.OIDC_CLI_REDIRECT_URI = ""
    settings.OIDC_STATE_SECRET_KEY = STATE_KEY
    settings.OIDC_STATE_EXPIRE_SECONDS = 600
    settings.OIDC_CLI_SESSION_TTL = 300
    settings.FRONTEND_URL = FRONTEND
    return provider


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _authorize(auth_url: str) -> dict[str, str]:
    """The browser leg at the provider: returns the query it redirects back with."""
    response = requests.get(auth_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return _query(response.headers["Location"])


def _start_web_login(client) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    response = client.get(LOGIN)
    assert response.status_code == 307, response.content
    return response["Location"], _authorize(response["Location"])


def _web_login(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Runs the whole web flow; returns the query of the final redirect to the frontend."""
    _, back = _start_web_login(client)
    response = client.get(CALLBACK, back)
    assert response.status_code == 302
    return _landing(response["Location"])


def _landing(location: str) -> dict[str, str]:
    assert location.startswith(f"{FRONTEND}/login"), location
    return {"path": urlsplit(location).path, **_query(location)}


def _assert_failure(landing: dict[str, str], code: str) -> None:
    assert landing["path"] == "/login", landing
    assert landing["error"] == code, landing
    assert landing["message"]
    assert "access_token" not in landing


# --- web flow -------------------------------------------------------------------------------


def test_login_redirects_to_provider_with_signed_state(anon_client, idp):
    response = anon_client.get(LOGIN)
    assert response.status_code == 307
    location = response["Location"]
    assert location.startswith(f"{idp.url}/authorize?")
    params = _query(location)
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["redirect_uri"] == "http://testserver/api/auth/oidc/callback"
    state = jwt.decode(params["state"], STATE_KEY, algorithms=["HS256"])
    assert set(state) == {"nonce", "iat", "exp"}
    assert state["nonce"] == params["nonce"]
    assert state["exp"] - state["iat"] == 600


def test_web_login_creates_oidc_user_and_returns_jwt(anon_client, idp):
    created: list[str] = []
    with hooks.on_user_created.registered(lambda u: created.append(u.user_name)):
        landing = _web_login(anon_client)

    assert landing["path"] == "/login/oidc"
    assert landing["token_type"] == "bearer"
    assert landing["login_success"] == "true"
    user = User.objects.get(user_name="carol")
    assert user_from_jwt(landing["access_token"]) == user
    assert user.email == "carol@corp.test"
    assert user.auth_source == "oidc"
    assert user.is_active and user.role == "user"
    assert user.git_info == []
    assert created == ["carol"]
    # The token authenticates against the API like a password login's token.
    me = anon_client.get("/api/api-keys", HTTP_AUTHORIZATION=f"Bearer {landing['access_token']}")
    assert me.status_code == 200
    assert idp.count("/token") == 1 and idp.count("/userinfo") == 1 and idp.count("/jwks") == 1


def test_second_login_refreshes_email_without_new_user(anon_client, idp):
    _web_login(anon_client)
    idp.claims = {"sub": "user-1", "email": "carol@newcorp.test"}
    landing = _web_login(anon_client)
    assert landing["path"] == "/login/oidc"
    assert User.objects.filter(user_name="carol").count() == 1
    assert User.objects.get(user_name="carol").email == "carol@newcorp.test"


def test_existing_password_user_logs_in_and_unknown_source_is_upgraded(anon_client, idp, make_user):
    legacy = make_user("carol", auth_source="unknown", email="old@corp.test")
    landing = _web_login(anon_client)
    assert user_from_jwt(landing["access_token"]) == legacy
    legacy.refresh_from_db()
    assert legacy.auth_source == "oidc"
    assert legacy.email == "carol@corp.test"


def test_oidc_does_not_take_over_local_accounts_unless_linking_is_enabled(
    anon_client, idp, make_user, settings
):
    password_user = make_user("dave", email="dave@corp.test")
    api_user = make_user("erin", email="erin@api.auto", auth_source="api:svc")
    for claims in ({"sub": "user-2", "email": "dave@corp.test"}, {"sub": "user-3", "email": "erin@x.test"}):
        idp.claims = claims
        _assert_failure(_web_login(anon_client), "authentication_failed")
    password_user.refresh_from_db()
    api_user.refresh_from_db()
    assert (password_user.email, api_user.email) == ("dave@corp.test", "erin@api.auto")

    settings.OIDC_LINK_LOCAL_ACCOUNTS = True
    idp.claims = {"sub": "user-2", "email": "dave@corp.test"}
    landing = _web_login(anon_client)
    assert landing["path"] == "/login/oidc"
    assert user_from_jwt(landing["access_token"]) == password_user
    password_user.refresh_from_db()
    assert password_user.auth_source == "password"


@pytest.mark.parametrize(
    ("claims", "user_name", "email"),
    [
        ({"sub": "s-1", "preferred_username": "erin@corp.test"}, "erin", "erin@corp.test"),
        ({"sub": "s-2", "preferred_username": "frank"}, "s-2", "frank"),
        ({"sub": "abc-123"}, "abc-123", "abc-123@unknown.email"),
    ],
)
def test_claim_fallbacks(anon_client, idp, claims, user_name, email):
    idp.claims = claims
    landing = _web_login(anon_client)
    assert landing["path"] == "/login/oidc"
    user = User.objects.get(user_name=user_name)
    assert user.email == email
    assert user_from_jwt(landing["access_token"]) == user


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"sub": "s-1", "email": f"{'x' * 51}@corp.test"}, "longer than 50"),
        ({"sub": "s-1", "email": "bad name/../x@corp.test"}, "may only contain"),
        ({"sub": "s-1", "email": "@corp.test"}, "user name"),
        ({"sub": "s-1", "email": f"ok@{'d' * 100}.test"}, "Email is longer"),
    ],
)
def test_unusable_user_names_fail_cleanly(anon_client, idp, claims, fragment):
    idp.claims = claims
    landing = _web_login(anon_client)
    _assert_failure(landing, "authentication_failed")
    assert fragment.lower() in landing["message"].lower()
    assert not User.objects.exists()


def test_missing_sub_fails(anon_client, idp):
    idp.claims = {"email": "nosub@corp.test"}
    landing = _web_login(anon_client)
    _assert_failure(landing, "authentication_failed")
    assert "sub" in landing["message"]
    assert not User.objects.exists()


def test_userinfo_subject_mismatch_fails(anon_client, idp):
    idp.userinfo_overrides = {"sub": "someone-else"}
    _assert_failure(_web_login(anon_client), "authentication_failed")
    assert not User.objects.exists()


def test_inactive_user_fails(anon_client, idp, make_user):
    carol = make_user("carol", email="old@corp.test", is_active=False)
    landing = _web_login(anon_client)
    _assert_failure(landing, "authentication_failed")
    assert landing["message"] == "User not activated"
    carol.refresh_from_db()
    assert carol.email == "old@corp.test"


def test_tampered_state_is_invalid(anon_client, idp):
    _, back = _start_web_login(anon_client)
    forged = jwt.encode(
        {**jwt.decode(back["state"], options={"verify_signature": False})},
        "another-state-key-0123456789abcdef",
        algorithm="HS256",
    )
    header, _, signature = back["state"].split(".")
    claims = jwt.decode(back["state"], options={"verify_signature": False})
    other_nonce = base64.urlsafe_b64encode(json.dumps({**claims, "nonce": "mine"}).encode()).decode()
    swapped = f"{header}.{other_nonce.rstrip('=')}.{signature}"
    for state in (forged, swapped, "not-a-jwt", ""):
        response = anon_client.get(CALLBACK, {**back, "state": state})
        _assert_failure(_landing(response["Location"]), "invalid_state")
    assert idp.count("/token") == 0


def test_expired_state(anon_client, idp, settings):
    settings.OIDC_STATE_EXPIRE_SECONDS = -5
    landing = _web_login(anon_client)
    _assert_failure(landing, "expired_state")
    assert idp.count("/token") == 0


def test_provider_error_param(anon_client, idp):
    idp.authorize_error = "access_denied"
    _, back = _start_web_login(anon_client)
    assert back["error"] == "access_denied" and "code" not in back
    landing = _landing(anon_client.get(CALLBACK, back)["Location"])
    _assert_failure(landing, "oidc_error")
    assert "denied" in landing["message"]


def test_bad_nonce_in_id_token(anon_client, idp):
    idp.id_token_overrides = {"nonce": "not-the-nonce"}
    _assert_failure(_web_login(anon_client), "authentication_failed")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "override", [{"aud": "another-client"}, {"iss": "http://evil.test"}, {"exp": int(time.time()) - 60}]
)
def test_id_token_for_wrong_audience_issuer_or_expired(anon_client, idp, override):
    idp.id_token_overrides = override
    _assert_failure(_web_login(anon_client), "authentication_failed")
    assert not User.objects.exists()


def test_missing_or_reused_code(anon_client, idp):
    _, back = _start_web_login(anon_client)
    no_code = {key: value for key, value in back.items() if key != "code"}
    _assert_failure(_landing(anon_client.get(CALLBACK, no_code)["Location"]), "authentication_failed")
    assert _landing(anon_client.get(CALLBACK, back)["Location"])["path"] == "/login/oidc"
    # The provider refuses a second use of the code; we redirect with an error, no 500.
    _assert_failure(_landing(anon_client.get(CALLBACK, back)["Location"]), "authentication_failed")


def test_configured_redirect_uri_is_used_for_both_legs(anon_client, idp, settings):
    settings.OIDC_REDIRECT_URI = "https://wegent.example/api/auth/oidc/callback"
    location, back = _start_web_login(anon_client)
    assert _query(location)["redirect_uri"] == settings.OIDC_REDIRECT_URI
    landing = _landing(anon_client.get(CALLBACK, back)["Location"])
    assert landing["path"] == "/login/oidc"  # the provider checked redirect_uri at the token call


def test_cli_state_is_refused_by_web_callback(anon_client, idp):
    session_id = str(uuid.uuid4())
    auth_url = anon_client.post(CLI_LOGIN, {"session_id": session_id}, format="json").json()["auth_url"]
    back = _authorize(auth_url)
    _assert_failure(_landing(anon_client.get(CALLBACK, back)["Location"]), "invalid_state")


def test_routes_ignore_bad_credentials(anon_client, idp):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert anon_client.get(LOGIN).status_code == 307
    assert anon_client.get("/api/auth/oidc/metadata").status_code == 200


# --- metadata, user-auth-type, disabled -----------------------------------------------------


def test_metadata_returns_discovery_document(anon_client, idp):
    response = anon_client.get("/api/auth/oidc/metadata")
    assert response.status_code == 200
    assert response.json() == idp.discovery()
    anon_client.get("/api/auth/oidc/metadata")
    assert idp.count("/.well-known/openid-configuration") == 1  # cached


def test_user_auth_type(anon_client, make_user):
    make_user("alice")
    make_user("sso", auth_source="oidc")
    assert anon_client.get("/api/auth/oidc/user-auth-type", {"username": "alice"}).json() == {
        "exists": True,
        "auth_source": "password",
    }
    assert anon_client.get("/api/auth/oidc/user-auth-type", {"username": "sso"}).json() == {
        "exists": True,
        "auth_source": "oidc",
    }
    assert anon_client.get("/api/auth/oidc/user-auth-type", {"username": "ghost"}).json() == {
        "exists": False,
        "auth_source": None,
    }
    assert_validation_error(anon_client.get("/api/auth/oidc/user-auth-type"), "username")


def test_user_auth_type_and_cli_login_are_throttled(anon_client, idp, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"login_ip": "2/min"})
    codes = [
        anon_client.get("/api/auth/oidc/user-auth-type", {"username": "x"}).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    response = anon_client.post(CLI_LOGIN, {"session_id": str(uuid.uuid4())}, format="json")
    assert response.status_code == 429
    # Polling is not throttled: the CLI polls every few seconds.
    assert _poll(anon_client, str(uuid.uuid4()))["status"] == "failed"


def test_disabled_oidc_gives_clear_errors(anon_client, idp, settings):
    settings.OIDC_ENABLED = False
    for response in (
        anon_client.get(LOGIN),
        anon_client.get("/api/auth/oidc/metadata"),
        anon_client.post(CLI_LOGIN, {"session_id": str(uuid.uuid4())}, format="json"),
    ):
        assert response.status_code == 400
        assert response.json() == {"detail": "OIDC login is not enabled"}
    landing = _landing(anon_client.get(CALLBACK, {"code": "x", "state": "y"})["Location"])
    _assert_failure(landing, "invalid_state")
    assert idp.requests == []


def test_unconfigured_and_unreachable_provider(anon_client, idp, settings):
    settings.OIDC_DISCOVERY_URL = ""
    response = anon_client.get(LOGIN)
    assert response.status_code == 503
    assert "OIDC_DISCOVERY_URL" in response.json()["detail"]

    settings.OIDC_DISCOVERY_URL = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    response = anon_client.get(LOGIN)
    assert response.status_code == 502
    assert response.json()["detail"].startswith("OIDC login failed:")

    settings.OIDC_DISCOVERY_URL = f"{idp.url}/jwks"  # a JSON document without endpoints
    response = anon_client.get("/api/auth/oidc/metadata")
    assert response.status_code == 502
    assert "authorization_endpoint" in response.json()["detail"]


def test_callback_with_unreachable_provider_redirects(anon_client, idp, settings):
    _, back = _start_web_login(anon_client)
    cache.clear()  # drop the cached discovery document
    settings.OIDC_DISCOVERY_URL = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    landing = _landing(anon_client.get(CALLBACK, back)["Location"])
    _assert_failure(landing, "authentication_failed")
    assert landing["message"].startswith("OIDC login failed:")


# --- CLI flow -------------------------------------------------------------------------------


def _cli_login(client, session_id: str) -> str:  # type: ignore[no-untyped-def]
    response = client.post(CLI_LOGIN, {"session_id": session_id}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session_id"] == session_id
    return body["auth_url"]


def _poll(client, session_id: str) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(CLI_POLL, {"session_id": session_id})
    assert response.status_code == 200
    return response.json()


def test_cli_flow_end_to_end(anon_client, idp):
    session_id = str(uuid.uuid4())
    auth_url = _cli_login(anon_client, session_id)
    params = _query(auth_url)
    assert params["redirect_uri"] == "http://testserver/api/auth/oidc/cli-callback"
    state = jwt.decode(params["state"], STATE_KEY, algorithms=["HS256"])
    assert state["cli_session_id"] == session_id and state["nonce"] == params["nonce"]
    assert cache.get(f"cli_login_session:{session_id}") == {"status": "pending"}
    assert _poll(anon_client, session_id) == {"status": "pending"}

    back = _authorize(auth_url)
    page = anon_client.get(CLI_CALLBACK, back)
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert "Login successful" in page.content.decode() and "carol" in page.content.decode()

    result = _poll(anon_client, session_id)
    assert result["status"] == "success"
    assert result["username"] == "carol"
    assert user_from_jwt(result["access_token"]) == User.objects.get(user_name="carol", auth_source="oidc")
    # The token is handed out once.
    assert _poll(anon_client, session_id) == {"status": "failed", "error": "Session expired or not found"}
    # Replaying the callback finds no pending session and exchanges nothing.
    replay = anon_client.get(CLI_CALLBACK, back)
    assert replay.status_code == 400 and "Session expired or not found" in replay.content.decode()
    assert idp.count("/token") == 1


def test_cli_configured_redirect_uri(anon_client, idp, settings):
    settings.OIDC_CLI_REDIRECT_URI = "https://wegent.example/api/auth/oidc/cli-callback"
    session_id = str(uuid.uuid4())
    auth_url = _cli_login(anon_client, session_id)
    assert _query(auth_url)["redirect_uri"] == settings.OIDC_CLI_REDIRECT_URI
    assert anon_client.get(CLI_CALLBACK, _authorize(auth_url)).status_code == 200
    assert _poll(anon_client, session_id)["status"] == "success"


def test_cli_failure_is_recorded(anon_client, idp, make_user):
    make_user("carol", is_active=False)
    session_id = str(uuid.uuid4())
    page = anon_client.get(CLI_CALLBACK, _authorize(_cli_login(anon_client, session_id)))
    assert page.status_code == 400
    assert "Login failed" in page.content.decode() and "User not activated" in page.content.decode()
    assert _poll(anon_client, session_id) == {"status": "failed", "error": "User not activated"}

    idp.authorize_error = "access_denied"
    other = str(uuid.uuid4())
    assert anon_client.get(CLI_CALLBACK, _authorize(_cli_login(anon_client, other))).status_code == 400
    result = _poll(anon_client, other)
    assert result["status"] == "failed" and "denied" in result["error"]


def test_cli_callback_bad_nonce_and_bad_state(anon_client, idp):
    idp.id_token_overrides = {"nonce": "nope"}
    session_id = str(uuid.uuid4())
    assert anon_client.get(CLI_CALLBACK, _authorize(_cli_login(anon_client, session_id))).status_code == 400
    assert _poll(anon_client, session_id)["status"] == "failed"
    assert not User.objects.exists()

    page = anon_client.get(CLI_CALLBACK, {"code": "x", "state": "forged"})
    assert page.status_code == 400 and "Invalid state parameter" in page.content.decode()


def test_cli_callback_for_expired_session_does_not_exchange(anon_client, idp):
    session_id = str(uuid.uuid4())
    back = _authorize(_cli_login(anon_client, session_id))
    cache.delete(f"cli_login_session:{session_id}")
    page = anon_client.get(CLI_CALLBACK, back)
    assert page.status_code == 400 and "Session expired or not found" in page.content.decode()
    assert idp.count("/token") == 0
    assert not User.objects.exists()


def test_cli_web_state_is_refused(anon_client, idp):
    _, back = _start_web_login(anon_client)
    page = anon_client.get(CLI_CALLBACK, back)
    assert page.status_code == 400
    assert idp.count("/token") == 0


def test_cli_login_bad_session_id(anon_client, idp):
    for bad in ("not-a-uuid", str(uuid.uuid1()), "", "1" * 70):
        response = anon_client.post(CLI_LOGIN, {"session_id": bad}, format="json")
        if bad and len(bad) <= 64:
            assert response.status_code == 400
            assert response.json() == {"detail": "Invalid session_id format"}
        else:
            assert_validation_error(response, "session_id")
    assert_validation_error(anon_client.post(CLI_LOGIN, {}, format="json"), "session_id")
    assert_validation_error(anon_client.post(CLI_LOGIN, [1], format="json"))


def test_cli_poll_unknown_or_bad_session(anon_client):
    not_found = {"status": "failed", "error": "Session expired or not found"}
    assert _poll(anon_client, str(uuid.uuid4())) == not_found
    assert _poll(anon_client, "garbage") == not_found
    assert_validation_error(anon_client.get(CLI_POLL), "session_id")

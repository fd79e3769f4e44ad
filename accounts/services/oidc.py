"""OIDC login for the web UI and the CLI, built on mozilla-django-oidc, without server-side sessions.

mozilla-django-oidc keeps its state and nonce in the Django session; we keep none. The ``state``
sent to the provider is an HS256 JWT carrying the nonce (and, for the CLI, the login session id),
so any worker can finish a login another worker started. Endpoints come from the provider's
discovery document, cached for a few minutes. The backend subclass below only adapts the library
to that: the code exchange, ID-token signature and nonce checks and the userinfo call are its own.

Failures of the browser legs never surface as JSON or a 500: they become a :class:`LoginFailure`
that the web callback turns into a redirect to the frontend and the CLI callback into a page.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from accounts.models import User
from accounts.services.tokens import issue_access_token
from accounts.services.users import USER_EXISTS, create_user
from wegent.errors import BadRequest, DomainError

logger = logging.getLogger("wegent.oidc")

WEB_CALLBACK_ROUTE = "auth-oidc-callback"
CLI_CALLBACK_ROUTE = "auth-oidc-cli-callback"

DISCOVERY_CACHE_SECONDS = 300
CLI_SESSION_KEY = "cli_login_session:{}"
SESSION_NOT_FOUND = "Session expired or not found"
INVALID_SESSION_ID = "Invalid session_id format"

# Names the rest of the system can carry safely (URLs, the ``wg-key#user`` suffix, group paths).
USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._+-]+$")
MAX_USER_NAME = User._meta.get_field("user_name").max_length or 50
MAX_EMAIL = User._meta.get_field("email").max_length or 100
MAX_MESSAGE = 300

# Failure codes of the web callback's redirect (the frontend maps them to texts).
OIDC_ERROR = "oidc_error"
EXPIRED_STATE = "expired_state"
INVALID_STATE = "invalid_state"
AUTHENTICATION_FAILED = "authentication_failed"


class OidcDisabled(BadRequest):
    default_detail = "OIDC login is not enabled"


# Accounts an OIDC login may sign into without the OIDC_LINK_LOCAL_ACCOUNTS opt-in.
LINKABLE_SOURCES = frozenset({"oidc", "unknown"})


class OidcNotConfigured(DomainError):
    status_code = 503
    default_detail = "OIDC is not configured"


class OidcProviderUnavailable(DomainError):
    status_code = 502
    default_detail = "OIDC login failed: the identity provider could not be reached"


class LoginFailure(Exception):
    """A browser leg of the login failed; ``code`` is one of the redirect's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message[:MAX_MESSAGE]


class LoginRejected(Exception):
    """Raised inside the backend for claims or users we refuse; passes through ``authenticate``
    (which swallows SuspiciousOperation) so the user sees the reason."""


# --- configuration and discovery ------------------------------------------------------------


def _require_configured() -> None:
    if not settings.OIDC_ENABLED:
        raise OidcDisabled()
    missing = [name for name in ("OIDC_DISCOVERY_URL", "OIDC_RP_CLIENT_ID") if not getattr(settings, name)]
    if missing:
        raise OidcNotConfigured(f"OIDC is not configured: {', '.join(missing)} missing")


def _required_endpoints() -> tuple[str, ...]:
    names: tuple[str, ...] = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
    if settings.OIDC_RP_SIGN_ALGO.startswith(("RS", "ES")):
        names += ("jwks_uri",)
    return names


def _fetch_discovery(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("OIDC discovery at %s failed: %s", url, exc)
        raise OidcProviderUnavailable(
            "OIDC login failed: could not load the provider's discovery document"
        ) from exc
    if not isinstance(document, dict):
        raise OidcProviderUnavailable("OIDC login failed: the provider's discovery document is not an object")
    missing = [name for name in _required_endpoints() if not isinstance(document.get(name), str)]
    if missing:
        raise OidcProviderUnavailable(
            f"OIDC login failed: the provider's discovery document lacks {', '.join(missing)}"
        )
    return document


def provider_metadata() -> dict[str, Any]:
    """The provider's discovery document (cached; keyed by URL so a new setting takes effect)."""
    _require_configured()
    url = settings.OIDC_DISCOVERY_URL
    key = "oidc_discovery:" + hashlib.sha256(url.encode()).hexdigest()
    document = cache.get(key)
    if document is None:
        document = _fetch_discovery(url)
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def callback_uri(request: HttpRequest, *, cli: bool) -> str:
    """The redirect URI of one flow; the authorize request and the code exchange must agree."""
    configured = settings.OIDC_CLI_REDIRECT_URI if cli else settings.OIDC_REDIRECT_URI
    if configured:
        return configured
    return request.build_absolute_uri(reverse(CLI_CALLBACK_ROUTE if cli else WEB_CALLBACK_ROUTE))


# --- user mapping ---------------------------------------------------------------------------


def map_claims(claims: dict[str, Any]) -> tuple[str, str]:
    """``(user_name, email)`` for the claims, following the reference's rules, or LoginRejected."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise LoginRejected("The identity provider returned no subject (sub) claim")
    email = claims.get("email") or claims.get("preferred_username") or f"{sub}@unknown.email"
    if not isinstance(email, str):
        raise LoginRejected("The identity provider returned an invalid email claim")
    user_name = email.partition("@")[0] if "@" in email else sub
    if not user_name:
        raise LoginRejected("Could not derive a user name from the identity provider's claims")
    if len(user_name) > MAX_USER_NAME:
        raise LoginRejected(
            f"User name '{user_name[:MAX_USER_NAME]}...' is longer than {MAX_USER_NAME} characters"
        )
    if not USER_NAME_PATTERN.match(user_name):
        raise LoginRejected(
            "User name derived from the identity provider may only contain "
            "letters, digits, '.', '_', '+' and '-'"
        )
    if len(email) > MAX_EMAIL:
        raise LoginRejected(f"Email is longer than {MAX_EMAIL} characters")
    return user_name, email


class WegentOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with endpoints from discovery, users keyed by user name,
    an explicit redirect URI per flow, and no session use."""

    def __init__(self, provider: dict[str, Any], *, redirect_uri: str, callback_route: str) -> None:
        # Set before the base __init__, which reads its endpoints through get_settings.
        self.redirect_uri = redirect_uri
        self.issuer = provider.get("issuer")
        self._overrides: dict[str, Any] = {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": provider["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": provider["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": provider["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": provider.get("jwks_uri"),
            "OIDC_AUTHENTICATION_CALLBACK_URL": callback_route,
            # The nonce is our only binding between the state and the ID token: never optional.
            "OIDC_USE_NONCE": True,
            "OIDC_CREATE_USER": True,
            "OIDC_STORE_ACCESS_TOKEN": False,
            "OIDC_STORE_ID_TOKEN": False,
        }
        super().__init__()

    def get_settings(self, attr: str, *args: Any) -> Any:  # type: ignore[override]
        if attr in self._overrides:
            return self._overrides[attr]
        return import_from_settings(attr, *args)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        # The library derives redirect_uri from a route name; a configured absolute URI wins.
        return super().get_token({**payload, "redirect_uri": self.redirect_uri})

    def store_tokens(self, access_token: str, id_token: str) -> None:
        """Session-free flow: the provider's tokens are not kept."""

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload = super().verify_token(token, **kwargs)
        # The library skips audience and issuer checks; a token minted for another client or by
        # another issuer must not log anyone in here.
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token audience does not match the client id")
        if self.issuer and payload.get("iss") != self.issuer:
            raise SuspiciousOperation("ID token issuer does not match the discovery document")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict):
            raise LoginRejected("The identity provider returned invalid user information")
        if "sub" in userinfo and userinfo["sub"] != payload.get("sub"):
            raise LoginRejected("The identity provider's userinfo does not match the ID token")
        return {**payload, **userinfo}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        map_claims(claims)  # raises LoginRejected with the reason
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        user_name, _ = map_claims(claims)
        return User.objects.filter(user_name=user_name)

    def create_user(self, claims: dict[str, Any]) -> User:
        user_name, email = map_claims(claims)
        try:
            return create_user(user_name=user_name, password=None, email=email, auth_source="oidc")
        except BadRequest as exc:
            if exc.detail != USER_EXISTS:
                raise
            # A concurrent first login created the row between the lookup and the insert.
            return self.update_user(User.objects.get(user_name=user_name), claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        if not user.is_active:
            raise LoginRejected("User not activated")
        # Users are matched by the local part of the email, so any IdP account named like a local
        # password or API account would take it over. Linking those is an explicit opt-in.
        if user.auth_source not in LINKABLE_SOURCES and not settings.OIDC_LINK_LOCAL_ACCOUNTS:
            raise LoginRejected(
                f"User '{user.user_name}' signs in with {user.auth_source.split(':')[0]}, not OIDC"
            )
        _, email = map_claims(claims)
        changed = []
        if user.email != email:
            user.email = email
            changed.append("email")
        if user.auth_source == "unknown":
            user.auth_source = "oidc"
            changed.append("auth_source")
        if changed:
            user.save(update_fields=[*changed, "updated_at"])
        return user


def _backend(request: HttpRequest, *, cli: bool) -> WegentOIDCBackend:
    provider = provider_metadata()
    return WegentOIDCBackend(
        provider,
        redirect_uri=callback_uri(request, cli=cli),
        callback_route=CLI_CALLBACK_ROUTE if cli else WEB_CALLBACK_ROUTE,
    )


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginState:
    nonce: str
    cli_session_id: str | None = None


def issue_state(*, nonce: str, cli_session_id: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"nonce": nonce, "iat": now, "exp": now + settings.OIDC_STATE_EXPIRE_SECONDS}
    if cli_session_id is not None:
        claims["cli_session_id"] = cli_session_id
    return jwt.encode(claims, settings.OIDC_STATE_SECRET_KEY, algorithm="HS256")


def read_state(raw: str | None, *, cli: bool) -> LoginState:
    if not raw:
        raise LoginFailure(INVALID_STATE, "Missing state parameter")
    try:
        claims = jwt.decode(
            raw,
            settings.OIDC_STATE_SECRET_KEY,
            algorithms=["HS256"],
            options={"require": ["nonce", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise LoginFailure(EXPIRED_STATE, "The login request has expired, please try again") from exc
    except jwt.PyJWTError as exc:
        raise LoginFailure(INVALID_STATE, "Invalid state parameter") from exc
    nonce = claims["nonce"]
    session_id = claims.get("cli_session_id")
    # A state minted for one flow is never accepted by the other one's callback.
    if not isinstance(nonce, str) or cli != isinstance(session_id, str):
        raise LoginFailure(INVALID_STATE, "Invalid state parameter")
    return LoginState(nonce=nonce, cli_session_id=session_id)


def authorization_url(request: HttpRequest, *, cli_session_id: str | None = None) -> str:
    """The provider's authorize URL for a new login (web, or CLI when a session id is given)."""
    cli = cli_session_id is not None
    backend = _backend(request, cli=cli)
    nonce = secrets.token_urlsafe(32)
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "response_type": "code",
        "scope": settings.OIDC_RP_SCOPES,
        "redirect_uri": backend.redirect_uri,
        "state": issue_state(nonce=nonce, cli_session_id=cli_session_id),
        "nonce": nonce,
    }
    endpoint = backend.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


# --- callbacks ------------------------------------------------------------------------------

# Everything the code exchange can raise on a hostile or broken provider response.
_EXCHANGE_ERRORS = (
    SuspiciousOperation,
    ImproperlyConfigured,
    requests.RequestException,
    jwt.PyJWTError,
    ValueError,
    KeyError,
    TypeError,
)


def _provider_error(request: HttpRequest) -> None:
    error = request.GET.get("error")
    if error:
        description = request.GET.get("error_description") or error
        raise LoginFailure(OIDC_ERROR, f"Identity provider error: {description}")


def _exchange_code(request: HttpRequest, state: LoginState, *, cli: bool) -> User:
    """Code -> tokens -> verified ID token -> userinfo -> local user (created or refreshed)."""
    if not request.GET.get("code"):
        raise LoginFailure(AUTHENTICATION_FAILED, "Missing authorization code")
    try:
        user = _backend(request, cli=cli).authenticate(request, nonce=state.nonce)
    except DomainError as exc:
        raise LoginFailure(AUTHENTICATION_FAILED, str(exc.detail)) from exc
    except LoginRejected as exc:
        raise LoginFailure(AUTHENTICATION_FAILED, str(exc)) from exc
    except _EXCHANGE_ERRORS as exc:
        logger.warning("OIDC code exchange failed: %s", exc)
        raise LoginFailure(AUTHENTICATION_FAILED, "OIDC authentication failed") from exc
    if user is None or not user.is_active:
        raise LoginFailure(AUTHENTICATION_FAILED, "OIDC authentication failed")
    return user


def web_callback_redirect(request: HttpRequest) -> str:
    """Where the browser goes after the provider sent it back: the frontend, with a token or an error."""
    frontend = settings.FRONTEND_URL
    try:
        state = read_state(request.GET.get("state"), cli=False)
        _provider_error(request)
        user = _exchange_code(request, state, cli=False)
    except LoginFailure as failure:
        return f"{frontend}/login?{urlencode({'error': failure.code, 'message': failure.message})}"
    token = issue_access_token(user)
    query = urlencode({"access_token": token, "token_type": "bearer", "login_success": "true"})
    return f"{frontend}/login/oidc?{query}"


# --- CLI sessions ---------------------------------------------------------------------------


def _session_key(session_id: str) -> str:
    return CLI_SESSION_KEY.format(session_id)


def normalize_session_id(raw: str) -> str | None:
    """The canonical form of a uuid4 string, or None."""
    try:
        parsed = uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        return None
    return str(parsed) if parsed.version == 4 else None


def start_cli_login(request: HttpRequest, *, session_id: str) -> dict[str, str]:
    canonical = normalize_session_id(session_id)
    if canonical is None:
        raise BadRequest(INVALID_SESSION_ID)
    auth_url = authorization_url(request, cli_session_id=canonical)
    cache.set(_session_key(canonical), {"status": "pending"}, settings.OIDC_CLI_SESSION_TTL)
    return {"auth_url": auth_url, "session_id": session_id}


@dataclass(frozen=True)
class CliOutcome:
    success: bool
    message: str
    username: str | None = None


def finish_cli_login(request: HttpRequest) -> CliOutcome:
    """Completes a CLI login in the browser and records the result for the polling CLI."""
    try:
        state = read_state(request.GET.get("state"), cli=True)
    except LoginFailure as failure:
        return CliOutcome(success=False, message=failure.message)
    key = _session_key(state.cli_session_id or "")
    session = cache.get(key)
    if not isinstance(session, dict) or session.get("status") != "pending":
        # Nothing is exchanged for a session nobody waits for (expired, or already finished).
        return CliOutcome(success=False, message=SESSION_NOT_FOUND)
    ttl = settings.OIDC_CLI_SESSION_TTL
    try:
        _provider_error(request)
        user = _exchange_code(request, state, cli=True)
    except LoginFailure as failure:
        cache.set(key, {"status": "failed", "error": failure.message}, ttl)
        return CliOutcome(success=False, message=failure.message)
    token = issue_access_token(user)
    cache.set(key, {"status": "success", "access_token": token, "username": user.user_name}, ttl)
    return CliOutcome(success=True, message="Login successful", username=user.user_name)


def poll_cli_session(session_id: str) -> dict[str, Any]:
    """The session's status; a success is handed out once, then the session is gone."""
    not_found = {"status": "failed", "error": SESSION_NOT_FOUND}
    canonical = normalize_session_id(session_id)
    if canonical is None:
        return not_found
    key = _session_key(canonical)
    session = cache.get(key)
    if not isinstance(session, dict):
        return not_found
    if session.get("status") == "success" and not cache.delete(key):
        return not_found  # a concurrent poll consumed it first
    return session


def user_auth_type(username: str) -> dict[str, Any]:
    auth_source = User.objects.filter(user_name=username).values_list("auth_source", flat=True).first()
    return {"exists": auth_source is not None, "auth_source": auth_source}

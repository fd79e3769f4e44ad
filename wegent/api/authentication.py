"""DRF authentication: JWTs and ``wg-`` API keys on every route.

Order: ``X-API-Key`` > ``Authorization: Bearer wg-...`` > ``wegent-source`` for keys, and
``Authorization: Bearer <jwt>`` otherwise. No credentials -> 401 "Not authenticated".
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiKey, User
from accounts.services import api_keys, auth
from wegent.errors import DomainError


@dataclass(frozen=True)
class AuthContext:
    """What ``request.auth`` holds: how the caller authenticated."""

    method: str  # "jwt" or "api_key"
    api_key: ApiKey | None = None

    @property
    def api_key_name(self) -> str | None:
        return self.api_key.name if self.api_key else None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def find_api_key(request: Request) -> str | None:
    for candidate in (
        request.headers.get("X-API-Key", ""),
        _bearer(request) or "",
        request.headers.get("wegent-source", ""),
    ):
        if candidate.startswith(api_keys.KEY_PREFIX):
            return candidate
    return None


class WegentAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, AuthContext] | None:
        raw_key = find_api_key(request)
        try:
            if raw_key:
                result = api_keys.authenticate(raw_key, impersonate=request.headers.get("wegent-username"))
                return result.user, AuthContext(method="api_key", api_key=result.api_key)
            token = _bearer(request)
            if token is None:
                return None
            return auth.user_from_jwt(token), AuthContext(method="jwt")
        except DomainError as exc:
            if exc.status_code == 401:
                raise AuthenticationFailed(exc.detail) from exc
            raise

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"

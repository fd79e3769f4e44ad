"""Connecting to ``/chat``: who the token belongs to."""

from __future__ import annotations

from typing import Any

from accounts.exceptions import InvalidToken
from accounts.models import User
from accounts.services import auth as auth_service


def authenticate(token: Any) -> tuple[User, float | None]:
    """The user of a JWT and its expiry; ``InvalidToken`` otherwise."""
    import jwt

    if not isinstance(token, str) or not token:
        raise InvalidToken("Missing authentication token")
    raw = token.removeprefix("Bearer ").strip()
    user = auth_service.user_from_jwt(raw)
    claims = jwt.decode(raw, options={"verify_signature": False})
    exp = claims.get("exp")
    return user, float(exp) if isinstance(exp, int | float) else None

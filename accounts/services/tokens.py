"""JWT access tokens (HS256, ``sub`` = user name, ``user_id``, numeric ``exp``) via simplejwt."""

from __future__ import annotations

from datetime import timedelta

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.exceptions import InvalidToken
from accounts.models import User


def issue_access_token(user: User, *, lifetime: timedelta | None = None) -> str:
    token = AccessToken()
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    token["sub"] = user.user_name
    token["user_id"] = user.id
    return str(token)


def token_response(user: User, *, lifetime: timedelta | None = None) -> dict[str, str]:
    return {"access_token": issue_access_token(user, lifetime=lifetime), "token_type": "bearer"}


def user_name_from_token(raw: str) -> str:
    """Validates signature and expiry; returns the ``sub`` claim."""
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise InvalidToken() from exc
    subject = token.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken()
    return subject

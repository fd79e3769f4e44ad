"""JWT access tokens (HS256, ``sub`` = user name, ``user_id``, numeric ``exp``) via simplejwt.

The payload is exactly the reference's, so tokens interoperate with it when both share a key.
simplejwt's TokenBackend signs and verifies (signature, expiry, algorithm).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.state import token_backend

from accounts.exceptions import InvalidToken
from accounts.models import User


def issue_access_token(user: User, *, lifetime: timedelta | None = None) -> str:
    lifetime = lifetime if lifetime is not None else settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    expires = timezone.now() + lifetime
    payload = {"sub": user.user_name, "user_id": user.id, "exp": int(expires.timestamp())}
    return token_backend.encode(payload)


def token_response(user: User, *, lifetime: timedelta | None = None) -> dict[str, str]:
    return {"access_token": issue_access_token(user, lifetime=lifetime), "token_type": "bearer"}


def identity_from_token(raw: str) -> tuple[str, int]:
    """Validates signature and expiry; returns the ``sub`` and ``user_id`` claims."""
    known = _verified.get(raw)
    if known is not None and known[2] > time.time():
        return known[0], known[1]
    try:
        payload = token_backend.decode(raw, verify=True)
    except TokenBackendError as exc:
        raise InvalidToken() from exc
    subject, user_id, expires = payload.get("sub"), payload.get("user_id"), payload.get("exp")
    if not isinstance(subject, str) or not subject or not isinstance(expires, int | float):
        raise InvalidToken()
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InvalidToken()
    _remember(raw, (subject, user_id, float(expires)))
    return subject, user_id


# Tokens whose signature this process already verified, with their claims. A client sends the
# same token on every request and verifying it (HMAC, base64, JSON) was about 5 % of a Kind
# write's CPU; the expiry is still checked on every use. A token's claims never change, and the
# user it names is looked up (active, same name) on every request as before.
_VERIFIED_MAX = 4096
_verified: dict[str, tuple[str, int, float]] = {}


def _remember(raw: str, claims: tuple[str, int, float]) -> None:
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()  # a bounded memo, not an LRU: refilling costs one verification each
    _verified[raw] = claims

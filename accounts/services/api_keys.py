"""API keys: creation (shown once), lookup by SHA-256, service-key impersonation."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import ApiKeyNotFound, InvalidApiKey
from accounts.hooks import run_user_created
from accounts.models import ApiKey, User
from accounts.roles import KeyType, SystemRole
from wegent.errors import BadRequest, Unauthorized

logger = logging.getLogger(__name__)

KEY_PREFIX = "wg-"
_USERNAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
# The row's last_used_at is written at most this often, so a busy key does not write on every
# request; a use inside the window is kept in the cache instead (see ``_touch``).
_LAST_USED_GRANULARITY = timedelta(seconds=30)
# How long a cached use outlives its request. Longer than any sensible gap between a use and
# a look at the key list; if the entry is evicted first, the row is at most one window behind.
_LAST_USED_CACHE_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class ApiKeyAuth:
    user: User
    api_key: ApiKey

    @property
    def api_key_name(self) -> str:
        return self.api_key.name


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_key(
    *, owner: User, name: str, description: str = "", key_type: str = KeyType.PERSONAL
) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext; the plaintext exists only in this return value."""
    random_part = secrets.token_urlsafe(32)
    raw = KEY_PREFIX + random_part
    api_key = ApiKey.objects.create(
        user=owner,
        key_hash=hash_key(raw),
        key_prefix=f"{KEY_PREFIX}{random_part[:8]}...",
        name=name,
        description=description,
        key_type=key_type,
    )
    return api_key, raw


def _owned(actor: User, key_id: int, key_type: str) -> ApiKey:
    query = ApiKey.objects.filter(pk=key_id, key_type=key_type)
    if key_type == KeyType.PERSONAL and not actor.is_admin:
        query = query.filter(user=actor)
    api_key = query.first()
    if api_key is None:
        raise ApiKeyNotFound()
    return api_key


def get_own_personal_key(*, actor: User, key_id: int) -> ApiKey:
    api_key = ApiKey.objects.filter(pk=key_id, key_type=KeyType.PERSONAL, user=actor).first()
    if api_key is None:
        raise ApiKeyNotFound()
    return api_key


@transaction.atomic
def toggle_key(*, actor: User, key_id: int, key_type: str, own_only: bool = False) -> ApiKey:
    api_key = (
        get_own_personal_key(actor=actor, key_id=key_id) if own_only else _owned(actor, key_id, key_type)
    )
    api_key.is_active = not api_key.is_active
    api_key.save(update_fields=["is_active", "updated_at"])
    return api_key


@transaction.atomic
def delete_key(*, actor: User, key_id: int, key_type: str, own_only: bool = False) -> None:
    api_key = (
        get_own_personal_key(actor=actor, key_id=key_id) if own_only else _owned(actor, key_id, key_type)
    )
    api_key.delete()


def authenticate(raw: str, *, impersonate: str | None = None) -> ApiKeyAuth:
    """Resolves ``wg-...[#username]`` to a user, following the reference's rules.

    Personal keys act as their owner. Service keys act as the user named by the ``#suffix``
    or ``impersonate`` (the ``wegent-username`` header), creating that user when unknown.
    """
    key_part, _, suffix = raw.partition("#")
    api_key = (
        ApiKey.objects.select_related("user").filter(key_hash=hash_key(key_part), is_active=True).first()
    )
    if api_key is None:
        raise InvalidApiKey()
    if api_key.is_expired:
        raise Unauthorized("API key has expired")
    _touch(api_key)
    if api_key.key_type == KeyType.SERVICE:
        return ApiKeyAuth(user=_impersonated_user(api_key, suffix or impersonate or ""), api_key=api_key)
    if not api_key.user.is_active:
        raise Unauthorized("User not found or inactive")
    return ApiKeyAuth(user=api_key.user, api_key=api_key)


def _last_used_cache_key(key_id: int) -> str:
    return f"api-key:last-used:{key_id}"


def _touch(api_key: ApiKey) -> None:
    """Records a use: one row UPDATE per key per window, else one cache write.

    Reads merge the cached time back in (``with_recent_use``), so a list right after a use
    shows it on every worker, while the hot path stays one cheap write.
    """
    now = timezone.now()
    if now - api_key.last_used_at < _LAST_USED_GRANULARITY and _cache_use(api_key.pk, now):
        api_key.last_used_at = now
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def _cache_use(key_id: int, when: datetime) -> bool:
    """Whether the cache took the use; if it cannot be reached the caller writes the row."""
    try:
        cache.set(_last_used_cache_key(key_id), when.timestamp(), _LAST_USED_CACHE_SECONDS)
    except Exception:  # a cache outage must not fail authentication
        logger.warning("api keys: could not cache a key's last use; writing the row", exc_info=True)
        return False
    return True


def with_recent_use(keys: Iterable[ApiKey]) -> list[ApiKey]:
    """``keys`` with ``last_used_at`` raised to any newer use not yet written to the row."""
    keys = list(keys)
    if not keys:
        return keys
    try:
        cached = cache.get_many([_last_used_cache_key(key.pk) for key in keys])
    except Exception:  # without the cache the rows are at most one window behind
        logger.warning("api keys: could not read cached last uses", exc_info=True)
        return keys
    for key in keys:
        stamp = cached.get(_last_used_cache_key(key.pk))
        if isinstance(stamp, int | float):
            used = datetime.fromtimestamp(stamp, tz=UTC)
            if used > key.last_used_at:
                key.last_used_at = used
    return keys


def _impersonated_user(api_key: ApiKey, user_name: str) -> User:
    user_name = user_name.strip()
    if not user_name:
        # The key alone names nobody: credentials are incomplete, so 401 like a missing token
        # (the reference answers 400, which clients do not treat as "log in again").
        raise Unauthorized("Username is required for service key authentication (use wegent-username header)")
    if len(user_name) > 50 or not _USERNAME_RE.match(user_name):
        raise BadRequest(f"Invalid username format: {user_name[:50]}")
    user = User.objects.filter(user_name=user_name).first()
    if user is None:
        user = _create_api_user(user_name, api_key.name)
    if not user.is_active:
        raise Unauthorized(f"User '{user_name}' is inactive")
    return user


def _create_api_user(user_name: str, key_name: str) -> User:
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                user_name,
                password=secrets.token_urlsafe(24),
                email=f"{user_name}@api.auto",
                role=SystemRole.USER,
                auth_source=f"api:{key_name}"[:120],
                git_info=[],
                preferences={},
            )
            run_user_created(user)
            return user
    except IntegrityError:
        # Two first requests for the same new user raced; the other one created it.
        return User.objects.get(user_name=user_name)

"""Password login and resolving the user behind a bearer token."""

from __future__ import annotations

from functools import cache

from django.contrib.auth.hashers import check_password, make_password

from accounts import user_cache
from accounts.exceptions import InvalidCredentials, InvalidToken, UserNotActivated
from accounts.models import User
from accounts.services import login_guard
from accounts.services.tokens import identity_from_token


@cache
def _dummy_hash() -> str:
    # Checked when the user does not exist, so a miss costs as much as a wrong password.
    return make_password("wegent-timing-equaliser")


def login(*, user_name: str, password: str, address: str) -> User:
    """The user whose password this is; every password login goes through here.

    ``address`` is the client's (``wegent.api.throttling.client_address``): wrong passwords
    count against it and against the name, and may refuse later tries before any check.
    """
    return login_guard.guarded(user_name, address, lambda: _check_password(user_name, password))


def _check_password(user_name: str, password: str) -> User:
    user = User.objects.filter(user_name=user_name).first()
    if user is None:
        check_password(password, _dummy_hash())
        raise InvalidCredentials()
    if not user.has_usable_password() or not user.check_password(password):
        raise InvalidCredentials()
    if not user.is_active:
        raise UserNotActivated()
    if user.auth_source == "unknown":
        user.auth_source = "password"
        user.save(update_fields=["auth_source", "updated_at"])
    return user


def user_from_jwt(raw: str) -> User:
    """The active user named by a valid token; a deleted or renamed user gets 401, not 404.

    Both the name and the id must match: after a rename, someone who takes over the old name
    must not inherit tokens issued to its previous holder.
    """
    user_name, user_id = identity_from_token(raw)
    user = user_cache.get_or_load(user_id, lambda: User.objects.filter(pk=user_id).first())
    if user is None or user.user_name != user_name:
        raise InvalidToken()
    if not user.is_active:
        raise InvalidToken("User not activated")
    return user

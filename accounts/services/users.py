"""Creating users (every path goes through here so default resources are applied once)."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from accounts.hooks import run_user_created
from accounts.models import User
from accounts.roles import SystemRole
from wegent.errors import BadRequest

USER_EXISTS = "User with this username already exists"


@transaction.atomic
def create_user(
    *,
    user_name: str,
    password: str | None,
    email: str | None = None,
    role: str = SystemRole.USER,
    auth_source: str = "password",
    git_info: list | None = None,
    preferences: dict | None = None,
) -> User:
    """Creates a user; ``password=None`` stores a random one (OIDC and API identities)."""
    if User.objects.filter(user_name=user_name).exists():
        raise BadRequest(USER_EXISTS)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                user_name,
                password=password if password is not None else secrets.token_urlsafe(24),
                email=email,
                role=role,
                auth_source=auth_source,
                git_info=git_info or [],
                preferences=preferences or {},
            )
    except IntegrityError as exc:
        raise BadRequest(USER_EXISTS) from exc
    run_user_created(user)
    return user

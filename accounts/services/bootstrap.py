"""The admin user that a fresh installation starts with."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from accounts.roles import SystemRole
from accounts.services.users import create_user

DEFAULT_ADMIN_PASSWORD = "Wegent2025!"  # the reference's seed; bootstrap warns when it is used
ADMIN_USER_NAME = "admin"


@transaction.atomic
def ensure_admin(*, password: str) -> bool:
    """Creates ``admin`` unless it exists; never touches an existing account. True if created."""
    if User.objects.filter(user_name=ADMIN_USER_NAME).exists():
        return False
    create_user(
        user_name=ADMIN_USER_NAME,
        password=password,
        email="admin@example.com",
        role=SystemRole.ADMIN,
        auth_source="password",
    )
    return True

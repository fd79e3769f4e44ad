"""Rows of the accounts app for any app's tests (plain functions; fixtures in conftest.py)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from accounts.roles import SystemRole

PASSWORD = "S3cret-pass!"


def make_user(
    user_name: str, *, role: str = SystemRole.USER, password: str = PASSWORD, **fields: Any
) -> User:
    fields.setdefault("email", f"{user_name}@example.com")
    return User.objects.create_user(user_name, password=password, role=role, **fields)

"""System roles and the group role table (Owner > Maintainer > Developer > Reporter)."""

from __future__ import annotations

from django.db import models


class SystemRole(models.TextChoices):
    ADMIN = "admin", "admin"
    USER = "user", "user"


class GroupRole(models.TextChoices):
    OWNER = "Owner", "Owner"
    MAINTAINER = "Maintainer", "Maintainer"
    DEVELOPER = "Developer", "Developer"
    REPORTER = "Reporter", "Reporter"


_RANK = {
    GroupRole.REPORTER: 1,
    GroupRole.DEVELOPER: 2,
    GroupRole.MAINTAINER: 3,
    GroupRole.OWNER: 4,
}


def role_rank(role: str | None) -> int:
    """0 for no role; higher ranks outrank lower ones."""
    if role is None:
        return 0
    return _RANK.get(GroupRole(role), 0) if role in GroupRole.values else 0


def role_at_least(role: str | None, required: str) -> bool:
    return role is not None and role_rank(role) >= role_rank(required)


class Visibility(models.TextChoices):
    PRIVATE = "private", "private"
    INTERNAL = "internal", "internal"
    PUBLIC = "public", "public"


class GroupLevel(models.TextChoices):
    GROUP = "group", "group"
    ORGANIZATION = "organization", "organization"


class KeyType(models.TextChoices):
    PERSONAL = "personal", "personal"
    SERVICE = "service", "service"
